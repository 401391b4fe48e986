#include "server/sweep_extension.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/protobuf/text_format.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

v1::SweepSpec Sweep(const std::string& text) {
  v1::SweepSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec));
  return spec;
}

constexpr char kSweep[] = R"pb(
  base {
    data { dataset: "synthetic" }
    pretrain { steps: 10 }
    finetune { steps: 10 }
    eval { eval_every: 5 }
  }
  axes {
    path: "model.width"
    values: [ 16, 32 ]
  }
  seeds: [ 0, 1 ]
)pb";

v1::ExtendSweepRequest Request(const std::string& text) {
  v1::ExtendSweepRequest r;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &r));
  return r;
}

TEST(PlanExtensionTest, SeedsGrowTheGridAndTheSpec) {
  absl::StatusOr<ExtensionPlan> plan =
      PlanExtension(Sweep(kSweep), Request("seeds: [1, 2, 3]"), 1000);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->spec_changed);
  EXPECT_THAT(plan->spec.seeds(), ::testing::ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(plan->jobs.size(), 8u);  // the store skips the 4 it has
  EXPECT_TRUE(plan->new_axes.empty());
}

TEST(PlanExtensionTest, ASweepWithoutSeedsKeepsItsBaseSeed) {
  v1::SweepSpec spec = Sweep(kSweep);
  spec.clear_seeds();
  spec.mutable_base()->set_seed(5);
  absl::StatusOr<ExtensionPlan> plan =
      PlanExtension(spec, Request("seeds: [6]"), 1000);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->spec.seeds(), ::testing::ElementsAre(5, 6));
}

TEST(PlanExtensionTest, ANewAxisStartsAtTheValueTheJobsRanWith) {
  absl::StatusOr<ExtensionPlan> plan =
      PlanExtension(Sweep(kSweep), Request(R"pb(add {
                                                  path: "finetune.lr"
                                                  values: [ 0.3 ]
                                                }
                                                add {
                                                  path: "model.width"
                                                  values: [ 32, 64 ]
                                                })pb"),
                    1000);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->new_axes.size(), 1u);
  const double lr = plan->new_axes.at("finetune.lr");
  EXPECT_GT(lr, 0);  // the resolved default, not 0
  ASSERT_EQ(plan->spec.axes_size(), 2);
  EXPECT_THAT(plan->spec.axes(0).values(), ::testing::ElementsAre(16, 32, 64));
  EXPECT_THAT(plan->spec.axes(1).values(), ::testing::ElementsAre(lr, 0.3));
  EXPECT_EQ(plan->jobs.size(), 3u * 2 * 2);
  EXPECT_EQ(plan->jobs.front().axis_values.at("finetune.lr"), lr);
}

TEST(PlanExtensionTest, OnlyLimitsNewSeedsToTheCellsAndKeepsTheSpec) {
  absl::StatusOr<ExtensionPlan> plan =
      PlanExtension(Sweep(kSweep), Request(R"pb(
                      seeds: [ 2, 3 ]
                      only { where { path: "model.width" value: 32 } }
                    )pb"),
                    1000);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->spec_changed);
  EXPECT_THAT(plan->spec.seeds(), ::testing::ElementsAre(0, 1));
  ASSERT_EQ(plan->jobs.size(), 4u);  // width 32, seeds 0-3
  for (const ExpandedJob& job : plan->jobs) {
    EXPECT_EQ(job.axis_values.at("model.width"), 32);
  }
  // A filter on a field that is not an axis reads the resolved spec.
  plan = PlanExtension(Sweep(kSweep), Request(R"pb(
                         seeds: [ 2 ]
                         only { where { path: "pretrain.steps" value: 11 } }
                       )pb"),
                       1000);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->jobs.empty());
}

TEST(PlanExtensionTest, RefusalsNameTheField) {
  auto message = [](const v1::SweepSpec& spec, const std::string& request) {
    absl::StatusOr<ExtensionPlan> plan =
        PlanExtension(spec, Request(request), 20);
    EXPECT_FALSE(plan.ok());
    return std::string(plan.status().message());
  };
  EXPECT_THAT(message(Sweep(kSweep), ""), HasSubstr("nothing to add"));
  EXPECT_THAT(
      message(Sweep(kSweep), R"pb(add { path: "model.widht" values: 3 })pb"),
      HasSubstr("add[0].path"));
  EXPECT_THAT(message(Sweep(kSweep), R"pb(add { path: "finetune.lr" })pb"),
              HasSubstr("add[0] (finetune.lr): no values"));
  EXPECT_THAT(
      message(Sweep(kSweep), R"pb(add { path: "finetune.lr" values: -1 })pb"),
      HasSubstr("finetune.lr"));
  EXPECT_THAT(message(Sweep(kSweep), R"pb(
                seeds: 4
                add { path: "finetune.lr" values: 0.1 }
                only { where { path: "model.width" value: 16 } }
              )pb"),
              HasSubstr("cannot be combined"));
  // 2 widths x 11 seeds = 22 jobs: over this server's 20.
  EXPECT_THAT(message(Sweep(kSweep), "seeds: [2, 3, 4, 5, 6, 7, 8, 9, 10]"),
              HasSubstr("20"));
}

}  // namespace
}  // namespace forgetlab
