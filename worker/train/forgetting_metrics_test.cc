#include "worker/train/forgetting_metrics.h"

#include <gtest/gtest.h>

namespace forgetlab::train {
namespace {

TEST(ForgettingMetricsTest, TwoTasksByHand) {
  // After A: A=0.9, B=0.2. After B: A=0.6, B=0.95.
  auto m = ComputeForgettingMetrics({{0.9, 0.2}, {0.6, 0.95}});
  EXPECT_NEAR(m["forgetting"], 0.3, 1e-12);
  EXPECT_NEAR(m["avg_forgetting"], 0.3, 1e-12);
  EXPECT_NEAR(m["bwt"], -0.3, 1e-12);
  EXPECT_NEAR(m["acc"], 0.775, 1e-12);
  EXPECT_NEAR(m["rel_forgetting"], 0.3 / 0.9, 1e-12);
  EXPECT_NEAR(m["fg_relative"], 0.3 / 0.9 * 100, 1e-9);
}

TEST(ForgettingMetricsTest, ThreeTasksUseBestEarlierAccuracy) {
  // Task 1 peaks after stage 2 (0.95), ends at 0.5: forgetting 0.45.
  // Task 2: max(0.1, 0.9) - 0.7 = 0.2.
  const std::vector<std::vector<double>> r = {
      {0.8, 0.1, 0.1}, {0.95, 0.9, 0.2}, {0.5, 0.7, 0.85}};
  auto m = ComputeForgettingMetrics(r);
  EXPECT_NEAR(m["forgetting"], 0.45, 1e-12);
  EXPECT_NEAR(m["avg_forgetting"], (0.45 + 0.2) / 2, 1e-12);
  EXPECT_NEAR(m["bwt"], ((0.5 - 0.8) + (0.7 - 0.9)) / 2, 1e-12);
  EXPECT_NEAR(m["acc"], (0.5 + 0.7 + 0.85) / 3, 1e-12);
  EXPECT_NEAR(m["rel_forgetting"], 0.45 / 0.8, 1e-12);
  // Luo et al.: stages 2 and 3 against R[1][1] = 0.8, in percent.
  EXPECT_NEAR(m["fg_relative"],
              ((0.8 - 0.95) / 0.8 + (0.8 - 0.5) / 0.8) / 2 * 100, 1e-9);
}

TEST(ForgettingMetricsTest, NegativeForgettingIsKept) {
  // Learning B improved A: forgetting is negative, not clamped.
  auto m = ComputeForgettingMetrics({{0.5, 0.1}, {0.6, 0.9}});
  EXPECT_NEAR(m["forgetting"], -0.1, 1e-12);
  EXPECT_NEAR(m["bwt"], 0.1, 1e-12);
}

TEST(ForgettingMetricsTest, RejectsNonSquareOrSingleTask) {
  EXPECT_TRUE(ComputeForgettingMetrics({{0.5}}).empty());
  EXPECT_TRUE(ComputeForgettingMetrics({{0.5, 0.1}, {0.6}}).empty());
}

}  // namespace
}  // namespace forgetlab::train
