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

TEST(PlanSlotsTest, ACountSharesTheCoresAndAGpuMeasuresItsOccupancy) {
  absl::StatusOr<SlotPlan> plan = PlanSlots("3", 0, "cpu", 8);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->slots, 3);
  EXPECT_EQ(plan->threads, 2);
  EXPECT_EQ(plan->cores, 0);
  EXPECT_FALSE(plan->occupancy);
  plan = PlanSlots("auto", 0, "cuda:0", 32);
  EXPECT_EQ(plan->slots, kGpuMaxSlots);
  EXPECT_TRUE(plan->occupancy);
  EXPECT_EQ(plan->threads, 2);
  EXPECT_FALSE(PlanSlots("4", 0, "cuda:0", 32)->occupancy);
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

TEST(BudgetTest, ALargeJobWaitsForEveryCoreAndHoldsNewLeasesBack) {
  Budget budget(2);
  absl::Notification stop;
  ASSERT_EQ(budget.Acquire(1, false, stop), 1);  // a small job runs
  std::atomic<bool> large_running{false};
  std::thread large([&] {
    ASSERT_EQ(budget.Acquire(2, true, stop), 2);
    large_running = true;
    budget.Release(2);
  });
  // While the large job waits, a new small lease may not take the free core.
  std::atomic<bool> small_got{false};
  std::thread small([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_EQ(budget.Acquire(1, false, stop), 1);
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

TEST(BudgetTest, StopEndsAWait) {
  Budget budget(1);
  absl::Notification stop;
  ASSERT_EQ(budget.Acquire(1, false, stop), 1);
  std::thread waiting([&] { EXPECT_EQ(budget.Acquire(1, true, stop), -1); });
  absl::SleepFor(absl::Milliseconds(150));
  stop.Notify();
  waiting.join();
  budget.Release(1);
  EXPECT_EQ(budget.Acquire(1, false, absl::Notification()), 1);
}

// Device memory: a job that needs more than the device has runs alone
// rather than never.
TEST(BudgetTest, ARequestAboveTheCapacityWaitsForAllOfIt) {
  Budget memory(1000);
  absl::Notification stop;
  ASSERT_EQ(memory.Acquire(300, true, stop), 300);
  std::atomic<int64_t> got{0};
  std::thread huge([&] { got = memory.Acquire(5000, true, stop); });
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(got.load(), 0);  // waits while another job holds memory
  memory.Release(300);
  huge.join();
  EXPECT_EQ(got.load(), 1000);
  memory.Release(1000);
  EXPECT_EQ(memory.Acquire(1000, true, stop), 1000);
}

}  // namespace
}  // namespace forgetlab
