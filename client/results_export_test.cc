#include "client/results_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "proto/spec/defaults.h"

namespace forgetlab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Two jobs of a width sweep, one with a forgetting curve.
std::vector<JobWithResult> TwoJobs() {
  std::vector<JobWithResult> rows;
  for (int i = 0; i < 2; ++i) {
    JobWithResult r;
    r.job.set_job_id(10 + i);
    r.job.set_sweep_id("sw-1");
    v1::ExperimentSpec spec;
    spec.mutable_data()->set_dataset("synthetic");
    spec.mutable_model()->set_width(i == 0 ? 16 : 32);
    spec.set_seed(3);
    *r.job.mutable_spec() = ResolveDefaults(spec);
    (*r.job.mutable_axis_values())["model.width"] = i == 0 ? 16 : 32;
    (*r.job.mutable_axis_values())["seed"] = 3;
    r.job.set_cached(i == 1);
    (*r.result.mutable_metrics())["forgetting"] = 0.25 + i;
    (*r.result.mutable_metrics())["acc"] = 0.5;
    r.result.set_parameter_count(1000 * (i + 1));
    for (int k = 0; k < 2; ++k) {
      auto* row = r.result.add_accuracy_matrix();
      row->add_accuracy(0.9);
      row->add_accuracy(0.8);
    }
    if (i == 0) {
      v1::CurvePoint* p = r.result.add_curves();
      p->set_stage(1);
      p->set_step(100);
      p->add_accuracy(0.7);
      p->add_accuracy(0.6);
    }
    v1::Provenance* p = r.result.mutable_provenance();
    p->set_forgetlab_version("0.5.0");
    p->set_forgetlab_commit("abc,123");
    p->set_torch_version("1.13.0");
    p->set_blas("openblas");
    p->set_device("cpu");
    p->set_threads(2);
    p->set_host("h");
    if (i == 1) {  // an LM result: text digests and a loss matrix
      (*p->mutable_data_sha256())["prose"] = std::string(64, 'b');
      (*p->mutable_data_sha256())["code"] = std::string(64, 'a');
      for (int row = 0; row < 2; ++row) {
        v1::LossRow* l = r.result.add_loss_matrix();
        l->add_loss(3.5 + row);
        l->add_loss(4.0);
      }
    }
    rows.push_back(r);
  }
  return rows;
}

TEST(ResultsExportTest, CsvHasTheDocumentedColumnsInOrder) {
  const std::string csv = ResultsCsv(TwoJobs(), false);
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  const std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  ASSERT_GE(header.size(), 10u);
  EXPECT_THAT(
      std::vector<std::string>(header.begin(), header.begin() + 9),
      ElementsAre("job_id", "sweep_id", "seed", "model.width", "acc",
                  "forgetting", "parameter_count", "total_seconds", "cached"));
  EXPECT_THAT(lines[0], HasSubstr(",finetune.lr,"));
  EXPECT_THAT(lines[0], HasSubstr(",pretrain.steps,"));
  EXPECT_THAT(lines[0], HasSubstr(",tasks[0].classes,"));
  EXPECT_THAT(lines[0], HasSubstr(",provenance.torch_version,"));
  EXPECT_THAT(lines[0], HasSubstr(",provenance.threads,provenance.host"));
  // model.width is an axis column, not repeated among the spec columns.
  EXPECT_EQ(lines[0].find("model.width"), lines[0].rfind("model.width"));
  EXPECT_THAT(lines[1], ::testing::StartsWith("10,sw-1,3,16,0.5,0.25,1000,"));
  EXPECT_THAT(lines[1], HasSubstr(",\"abc,123\","));  // quoted
  EXPECT_THAT(lines[2], HasSubstr(",true,"));         // cached

  // Long format: one line per curve point and task.
  const std::string curves = ResultsCsv(TwoJobs(), true);
  lines = absl::StrSplit(curves, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(
      lines[0],
      ::testing::EndsWith("curve_stage,curve_step,curve_task,curve_accuracy"));
  EXPECT_THAT(lines[1], ::testing::EndsWith(",1,100,0,0.7"));
  EXPECT_THAT(lines[2], ::testing::EndsWith(",1,100,1,0.6"));
}

TEST(ResultsExportTest, JsonLinesParseOneObjectPerJob) {
  const std::string jsonl = ResultsJsonl(TwoJobs(), true);
  std::vector<std::string> lines =
      absl::StrSplit(jsonl, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  google::protobuf::Struct job;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[0], &job).ok())
      << lines[0];
  const auto& f = job.fields();
  EXPECT_EQ(f.at("job_id").number_value(), 10);
  EXPECT_EQ(f.at("seed").number_value(), 3);
  EXPECT_EQ(
      f.at("axes").struct_value().fields().at("model.width").number_value(),
      16);
  EXPECT_EQ(
      f.at("metrics").struct_value().fields().at("forgetting").number_value(),
      0.25);
  EXPECT_EQ(
      f.at("spec").struct_value().fields().at("finetune.lr").number_value(),
      0.01);
  EXPECT_EQ(
      f.at("spec").struct_value().fields().at("data.dataset").string_value(),
      "synthetic");
  const auto& p = f.at("provenance").struct_value().fields();
  EXPECT_EQ(p.at("threads").number_value(), 2);
  EXPECT_EQ(p.at("blas").string_value(), "openblas");
  EXPECT_EQ(f.at("curves").list_value().values_size(), 1);
  EXPECT_EQ(f.at("accuracy_matrix").list_value().values_size(), 2);
  EXPECT_EQ(f.count("loss_matrix"), 0u);
  EXPECT_EQ(p.at("data_sha256").string_value(), "");

  google::protobuf::Struct lm;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[1], &lm).ok())
      << lines[1];
  const auto& g = lm.fields();
  ASSERT_EQ(g.at("loss_matrix").list_value().values_size(), 2);
  EXPECT_EQ(g.at("loss_matrix")
                .list_value()
                .values(1)
                .list_value()
                .values(0)
                .number_value(),
            4.5);
  EXPECT_EQ(g.at("provenance")
                .struct_value()
                .fields()
                .at("data_sha256")
                .string_value(),
            "code=" + std::string(64, 'a') + ";prose=" + std::string(64, 'b'));
}

}  // namespace
}  // namespace forgetlab
