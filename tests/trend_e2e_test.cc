// fit, compare and extend end to end: the real server, a worker and the CLI
// on loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/harness.h"

namespace forgetlab::e2e {
namespace {

using google::protobuf::Value;
using ::testing::HasSubstr;

// 3 widths x 2 pretraining sizes x 2 seeds = 12 quick synthetic jobs.
constexpr char kSweep[] = R"pb(
  name: "trend"
  base {
    data { dataset: "synthetic" }
    pretrain { steps: 40 batch_size: 32 }
    finetune { steps: 40 batch_size: 16 }
    eval { eval_every: 20 }
  }
  axes {
    path: "model.width"
    values: [ 8, 16, 32 ]
  }
  axes {
    path: "pretrain.examples"
    values: [ 0, 500 ]
  }
  seeds: [ SEEDS ]
)pb";

std::string Sweep(const std::string& seeds) {
  std::string text = kSweep;
  text.replace(text.find("SEEDS"), 5, seeds);
  return text;
}

class TrendTest : public ::testing::Test {
 protected:
  TrendTest() : cluster_("trend_e2e") {}

  std::string SubmitAndWait(const std::string& seeds) {
    Output submit = cluster_.Cli(
        {"submit",
         cluster_.WriteFile("sweep_" + seeds + ".textproto", Sweep(seeds))});
    EXPECT_EQ(submit.code, 0) << submit.err;
    const std::string id = LastLine(submit.out);
    Wait(id);
    return id;
  }
  void Wait(const std::string& id) {
    Output watch = cluster_.Cli({"watch", id});
    EXPECT_EQ(watch.code, 0) << watch.out << watch.err;
  }
  int Jobs(const std::string& id) {
    return cluster_.Jobs(id).list_value().values_size();
  }

  Cluster cluster_;
};

TEST_F(TrendTest, FitCompareAndExtend) {
  ASSERT_TRUE(cluster_.StartServer());
  auto worker = cluster_.StartWorker("worker");
  const std::string id = SubmitAndWait("0, 1");

  // fit: one law per pretraining size on the parameter counts, reproducible.
  Output fit = cluster_.Cli({"fit", id, "--format=json", "--resamples=200"});
  ASSERT_EQ(fit.code, 0) << fit.err;
  EXPECT_EQ(cluster_.Cli({"fit", id, "--format=json", "--resamples=200"}).out,
            fit.out);
  const Value fv = Json(fit.out);
  const auto& f = fv.struct_value().fields();
  EXPECT_EQ(f.at("x").string_value(), "parameter_count");
  EXPECT_EQ(f.at("by").string_value(), "pretrain.examples");
  const auto& groups = f.at("groups").list_value().values();
  ASSERT_EQ(groups.size(), 2);
  for (const Value& g : groups) {
    const auto& gf = g.struct_value().fields();
    ASSERT_TRUE(gf.contains("law")) << fit.out;
    EXPECT_EQ(gf.at("n").number_value(), 6);
    EXPECT_EQ(gf.at("cells").number_value(), 3);
    EXPECT_EQ(gf.at("fitted").list_value().values_size(), 3);
    const auto& ci =
        gf.at("slope_per_decade").struct_value().fields().at("ci95");
    EXPECT_LE(ci.list_value().values(0).number_value(),
              ci.list_value().values(1).number_value());
  }
  // One positive pretraining size: no joint law, and it says why.
  EXPECT_TRUE(f.at("joint").has_null_value());
  EXPECT_THAT(f.at("joint_skipped").string_value(), HasSubstr("2 distinct y"));
  Output text = cluster_.Cli({"fit", id, "--x=model.width"});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("alpha"));
  EXPECT_EQ(cluster_.Cli({"fit", id, "--metric=forgeting"}).code, 2);

  // compare: paired by width and seed.
  Output cmp = cluster_.Cli({"compare", id, "--axis=pretrain.examples", "--a=0",
                             "--b=500", "--format=json"});
  ASSERT_EQ(cmp.code, 0) << cmp.err;
  const Value cv = Json(cmp.out);
  EXPECT_EQ(cv.struct_value().fields().at("pairs").number_value(), 6);
  const auto& by = cv.struct_value().fields().at("paired_by").list_value();
  ASSERT_EQ(by.values_size(), 2);
  EXPECT_EQ(by.values(0).string_value(), "model.width");
  Output bad = cluster_.Cli(
      {"compare", id, "--axis=pretrain.examples", "--a=0", "--b=7"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("0, 500"));

  // extend --seeds: another sweep ran seeds 2 and 3 already, so the cache
  // serves all of them; a second call adds nothing.
  SubmitAndWait("0, 1, 2, 3");
  Output dry = cluster_.Cli({"extend", id, "--seeds=2-3", "--dry-run"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_THAT(dry.out,
              HasSubstr("12 job(s) would be added (12 from the cache)"));
  EXPECT_EQ(Jobs(id), 12);
  Output grow = cluster_.Cli({"extend", id, "--seeds=2-3"});
  ASSERT_EQ(grow.code, 0) << grow.err;
  EXPECT_THAT(grow.out, HasSubstr("12 job(s) added (12 from the cache)"));
  EXPECT_THAT(cluster_.Cli({"extend", id, "--seeds=3,2"}).out,
              HasSubstr("0 job(s) added"));
  EXPECT_EQ(Jobs(id), 24);

  // extend --add: a new axis; the jobs already there keep their value.
  Output add = cluster_.Cli({"extend", id, "--add", "finetune.lr=0.05"});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_THAT(add.out, HasSubstr("24 job(s) added"));
  Wait(id);
  Output by_lr = cluster_.Cli(
      {"table", id, "--rows=finetune.lr", "--cols=seed", "--format=json"});
  ASSERT_EQ(by_lr.code, 0) << by_lr.err;
  EXPECT_EQ(Json(by_lr.out)
                .struct_value()
                .fields()
                .at("cells")
                .list_value()
                .values_size(),
            2 * 4);
  EXPECT_EQ(cluster_.Cli({"extend", id, "--add", "finetune.lr"}).code, 2);
  EXPECT_EQ(cluster_.Cli({"extend", id}).code, 2);

  // extend --until_ci: a target no cell meets stops at --max_seeds (exit 1)
  // after one round of one seed for the six cells at lr 0.05; a loose one
  // adds nothing.
  Output until = cluster_.Cli({"extend", id, "--until_ci=1e-9", "--max_seeds=5",
                               "--batch=1", "--where", "finetune.lr=0.05"});
  EXPECT_EQ(until.code, 1) << until.out << until.err;
  EXPECT_THAT(until.out, HasSubstr("6 job(s) added"));
  EXPECT_THAT(until.out, HasSubstr("reached --max_seeds=5"));
  EXPECT_EQ(Jobs(id), 54);
  Output loose = cluster_.Cli({"extend", id, "--until_ci=100"});
  EXPECT_EQ(loose.code, 0) << loose.out << loose.err;
  EXPECT_EQ(Jobs(id), 54);

  // The report draws the fits and lists exponents and comparisons.
  const std::string report = (cluster_.dir() / "report.html").string();
  Output written = cluster_.Cli(
      {"report", id, "--where", "finetune.lr=0.05", "--out=" + report});
  ASSERT_EQ(written.code, 0) << written.err;
  const std::string html = ReadFile(report);
  EXPECT_THAT(html, HasSubstr("Trends: scaling laws"));
  EXPECT_THAT(html, HasSubstr("class=\"fit\""));
  EXPECT_THAT(html, HasSubstr("Paired comparisons"));
}

}  // namespace
}  // namespace forgetlab::e2e
