#include "worker/core_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "google/protobuf/text_format.h"
#include "proto/spec/defaults.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

TEST(PlanSlotsTest, AutoOnACpuIsOneSlotPerCoreWithThreadsPerJob) {
  absl::StatusOr<SlotPlan> plan = PlanSlots("auto", 0, "cpu", 8);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->slots, 8);
  EXPECT_EQ(plan->threads, 0);  // per job
  EXPECT_EQ(plan->cores, 8);
  // --threads fixes every job's threads and fits the slots to the cores.
  plan = PlanSlots("auto", 2, "cpu", 8);
  EXPECT_EQ(plan->slots, 4);
  EXPECT_EQ(plan->threads, 2);
  EXPECT_EQ(plan->cores, 0);
  plan = PlanSlots("auto", 16, "cpu", 8);
  EXPECT_EQ(plan->slots, 1);
}

TEST(PlanSlotsTest, ACountSharesTheCoresAndAGpuGetsFourStreams) {
  absl::StatusOr<SlotPlan> plan = PlanSlots("3", 0, "cpu", 8);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->slots, 3);
  EXPECT_EQ(plan->threads, 2);
  EXPECT_EQ(plan->cores, 0);
  plan = PlanSlots("auto", 0, "cuda:0", 16);
  EXPECT_EQ(plan->slots, kGpuAutoSlots);
  EXPECT_EQ(plan->threads, 4);
  EXPECT_EQ(PlanSlots("1", 0, "cpu", 2)->threads, 2);
  for (const char* bad : {"0", "-1", "many", "257", ""}) {
    absl::StatusOr<SlotPlan> refused = PlanSlots(bad, 0, "cpu", 2);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--slots"));
  }
}

v1::ExperimentSpec Resolved(const std::string& text) {
  v1::ExperimentSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec));
  return ResolveDefaults(spec);
}

TEST(JobThreadsTest, SmallJobsGetOneThreadAndLargeOnesEveryCore) {
  const SlotPlan plan = *PlanSlots("auto", 0, "cpu", 4);
  // The default sweep's MLPs: width 512 at batch 128 is 0.5 GFLOP a step.
  EXPECT_EQ(JobThreads(plan, Resolved("model { width: 512 }")), 1);
  EXPECT_EQ(JobThreads(plan, Resolved("model { width: 32 }")), 1);
  // An MLP of width 2048, depth 4: about 20 GFLOP a step.
  EXPECT_EQ(JobThreads(plan, Resolved("model { width: 2048 depth: 4 }")), 4);
  // A fixed count wins.
  EXPECT_EQ(JobThreads(*PlanSlots("2", 1, "cpu", 4),
                       Resolved("model { width: 2048 depth: 4 }")),
            1);
}

TEST(CoreBudgetTest, ALargeJobWaitsForEveryCoreAndHoldsNewLeasesBack) {
  CoreBudget budget(2);
  absl::Notification stop;
  ASSERT_TRUE(budget.Acquire(1, false, stop));  // a small job runs
  std::atomic<bool> large_running{false};
  std::thread large([&] {
    ASSERT_TRUE(budget.Acquire(2, true, stop));
    large_running = true;
    budget.Release(2);
  });
  // While the large job waits, a new small lease may not take the free core.
  std::atomic<bool> small_got{false};
  std::thread small([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(budget.Acquire(1, false, stop));
    small_got = true;
    EXPECT_TRUE(large_running.load());  // only after the large job
    budget.Release(1);
  });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(large_running.load());
  EXPECT_FALSE(small_got.load());
  budget.Release(1);  // the small job ends
  large.join();
  small.join();
  EXPECT_TRUE(small_got.load());
}

TEST(CoreBudgetTest, StopEndsAWait) {
  CoreBudget budget(1);
  absl::Notification stop;
  ASSERT_TRUE(budget.Acquire(1, false, stop));
  std::thread waiting([&] { EXPECT_FALSE(budget.Acquire(1, true, stop)); });
  absl::SleepFor(absl::Milliseconds(150));
  stop.Notify();
  waiting.join();
  budget.Release(1);
  EXPECT_TRUE(budget.Acquire(1, false, absl::Notification()));
}

}  // namespace
}  // namespace forgetlab
