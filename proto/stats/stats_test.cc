#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "proto/stats/paired.h"
#include "proto/stats/power_law.h"
#include "proto/stats/student_t.h"
#include "proto/stats/trend.h"

namespace forgetlab::stats {
namespace {

TEST(StudentTTest, MatchesPublishedQuantiles) {
  EXPECT_NEAR(StudentT975(1), 12.7062, 1e-4);
  EXPECT_NEAR(StudentT975(2), 4.3027, 1e-4);
  EXPECT_NEAR(StudentT975(30), 2.0423, 1e-4);
  EXPECT_NEAR(StudentT975(40), 2.0211, 2e-4);
  EXPECT_NEAR(StudentT975(120), 1.9799, 2e-4);
  EXPECT_NEAR(StudentT975(100000), 1.95996, 1e-4);
}

const std::vector<double> kSizes = {1e3, 3e3, 1e4, 3e4, 1e5};

double TrueLaw(double x) { return 0.1 + 2.0 * std::pow(x, -0.3); }

TEST(PowerLawTest, RecoversAnExactLaw) {
  std::vector<FitPoint> points;
  for (double x : {1e3, 1e4, 1e5, 1e6}) {
    points.push_back({x, 1, 0.05 + 3.0 * std::pow(x, -0.4), 3});
  }
  const PowerLaw law = FitPowerLaw(points);
  EXPECT_NEAR(law.alpha, -0.4, 1e-5);
  EXPECT_NEAR(law.c, 0.05, 1e-5);
  EXPECT_NEAR(law.a, 3.0, 1e-3);
  EXPECT_NEAR(law.r2, 1.0, 1e-9);
  EXPECT_FALSE(law.at_bound);
  EXPECT_NEAR(law.Predict(2e4), 0.05 + 3.0 * std::pow(2e4, -0.4), 1e-7);
}

TEST(PowerLawTest, RecoversAnExactJointLaw) {
  std::vector<FitPoint> points;
  for (double x : {1e4, 1e5, 1e6}) {
    for (double y : {1e2, 1e3, 1e4}) {
      points.push_back(
          {x, y, 0.02 + 5.0 * std::pow(x, -0.3) * std::pow(y, 0.2), 2});
    }
  }
  const PowerLaw law = FitJointPowerLaw(points);
  EXPECT_NEAR(law.alpha, -0.3, 1e-4);
  EXPECT_NEAR(law.beta, 0.2, 1e-4);
  EXPECT_NEAR(law.c, 0.02, 1e-4);
  EXPECT_NEAR(law.r2, 1.0, 1e-8);
}

TEST(PowerLawTest, LogSlopeByHand) {
  // m = 1, 2, 3 at x = 10, 100, 1000: one per decade.
  const LogSlope s =
      FitLogSlope({{10, 1, 1.0, 1}, {100, 1, 2.0, 1}, {1000, 1, 3.0, 1}});
  EXPECT_NEAR(s.slope, 1.0, 1e-12);
  EXPECT_NEAR(s.intercept, 0.0, 1e-12);
}

// Cells of TrueLaw with Gaussian seed noise.
std::vector<Cell> Draw(std::mt19937_64& rng, int seeds, double sigma) {
  std::normal_distribution<double> noise(0, sigma);
  std::vector<Cell> cells;
  for (double x : kSizes) {
    Cell cell{x, 1, {}};
    for (int s = 0; s < seeds; ++s)
      cell.values.push_back(TrueLaw(x) + noise(rng));
    cells.push_back(cell);
  }
  return cells;
}

TEST(TrendTest, RecoversTheExponentWithinItsInterval) {
  std::mt19937_64 rng(7);
  absl::StatusOr<Trend> t = FitTrend(Draw(rng, 5, 0.005), {1000, 1});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_LE(t->alpha.low, -0.3);
  EXPECT_GE(t->alpha.high, -0.3);
  EXPECT_LT(t->alpha.high - t->alpha.low, 0.6);  // an interval, not a shrug
  EXPECT_TRUE(t->slope_ci.ExcludesZero());
  EXPECT_EQ(t->Direction(), "falls");
  EXPECT_EQ(t->results, 25);
  ASSERT_EQ(t->points.size(), 5u);
  EXPECT_EQ(t->points[0].weight, 5);
}

TEST(TrendTest, NoTrendIsNotResolved) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 0.02);
  std::vector<Cell> cells;
  for (double x : kSizes) {
    Cell cell{x, 1, {}};
    for (int s = 0; s < 3; ++s) cell.values.push_back(0.2 + noise(rng));
    cells.push_back(cell);
  }
  absl::StatusOr<Trend> t = FitTrend(cells, {1000, 1});
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->slope_ci.ExcludesZero());
  EXPECT_EQ(t->Direction(), "not resolved");
}

TEST(TrendTest, TheSameSeedGivesTheSameIntervals) {
  std::mt19937_64 rng(11);
  const std::vector<Cell> cells = Draw(rng, 3, 0.01);
  absl::StatusOr<Trend> a = FitTrend(cells, {500, 42});
  absl::StatusOr<Trend> b = FitTrend(cells, {500, 42});
  absl::StatusOr<Trend> c = FitTrend(cells, {500, 43});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->alpha.low, b->alpha.low);
  EXPECT_EQ(a->slope_ci.high, b->slope_ci.high);
  EXPECT_NE(a->slope_ci.high, c->slope_ci.high);
}

// The interval is a 95% interval: over many independent experiments it holds
// the true exponent (and the true slope per decade) about 95% of the time.
TEST(TrendTest, IntervalsCoverTheTruthAboutNinetyFivePercentOfTheTime) {
  std::vector<FitPoint> truth;
  for (double x : kSizes) truth.push_back({x, 1, TrueLaw(x), 1});
  const double true_slope = FitLogSlope(truth).slope;
  std::mt19937_64 rng(2024);
  constexpr int kExperiments = 200;
  int alpha_hits = 0, slope_hits = 0;
  for (int e = 0; e < kExperiments; ++e) {
    absl::StatusOr<Trend> t =
        FitTrend(Draw(rng, 8, 0.01), {400, static_cast<uint64_t>(e)});
    ASSERT_TRUE(t.ok());
    alpha_hits += t->alpha.low <= -0.3 && -0.3 <= t->alpha.high;
    slope_hits +=
        t->slope_ci.low <= true_slope && true_slope <= t->slope_ci.high;
  }
  const double alpha_coverage = static_cast<double>(alpha_hits) / kExperiments;
  const double slope_coverage = static_cast<double>(slope_hits) / kExperiments;
  // Binomial sd at 95% over 200 experiments is 1.5 points.
  EXPECT_GE(alpha_coverage, 0.89) << alpha_coverage;
  EXPECT_LE(alpha_coverage, 0.99) << alpha_coverage;
  EXPECT_GE(slope_coverage, 0.89) << slope_coverage;
  EXPECT_LE(slope_coverage, 0.99) << slope_coverage;
}

TEST(TrendTest, JointTrendRecoversBothExponents) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 0.003);
  std::vector<Cell> cells;
  for (double x : {1e4, 3e4, 1e5, 3e5}) {
    for (double y : {1e2, 1e3, 1e4}) {
      Cell cell{x, y, {}};
      for (int s = 0; s < 5; ++s) {
        cell.values.push_back(
            0.02 + 5.0 * std::pow(x, -0.3) * std::pow(y, -0.15) + noise(rng));
      }
      cells.push_back(cell);
    }
  }
  absl::StatusOr<Trend> t = FitJointTrend(cells, {300, 1});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->joint);
  EXPECT_LE(t->alpha.low, -0.3);
  EXPECT_GE(t->alpha.high, -0.3);
  EXPECT_LE(t->beta.low, -0.15);
  EXPECT_GE(t->beta.high, -0.15);
  EXPECT_TRUE(t->alpha.ExcludesZero());
  EXPECT_EQ(t->Direction(), "falls");
}

TEST(TrendTest, RefusesWhatALawCannotFit) {
  EXPECT_FALSE(FitTrend({{0, 1, {0.1}}, {10, 1, {0.2}}, {100, 1, {0.3}}}, {})
                   .ok());  // x = 0
  EXPECT_FALSE(FitTrend({{1, 1, {0.1}}, {10, 1, {0.2}}}, {}).ok());
  EXPECT_FALSE(FitTrend({{1, 1, {}}, {10, 1, {0.2}}, {100, 1, {0.3}}}, {})
                   .ok());  // an empty cell
  EXPECT_FALSE(FitJointTrend({{1, 1, {0.1}},
                              {10, 1, {0.2}},
                              {100, 1, {0.3}},
                              {1000, 1, {0.3}},
                              {10000, 1, {0.3}}},
                             {})
                   .ok());  // one y
}

TEST(PairedTest, ByHand) {
  // Differences 1, 2, 2: mean 5/3, sd sqrt(1/3), t(2) = 4.3027.
  absl::StatusOr<PairedDifference> d = ComparePaired({{1, 2}, {2, 4}, {3, 5}});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->pairs, 3);
  EXPECT_NEAR(d->mean_a, 2.0, 1e-12);
  EXPECT_NEAR(d->mean_b, 11.0 / 3, 1e-12);
  EXPECT_NEAR(d->mean, 5.0 / 3, 1e-12);
  EXPECT_NEAR(d->sd, std::sqrt(1.0 / 3), 1e-12);
  EXPECT_NEAR(d->ci_low, 5.0 / 3 - 4.3027 / 3, 1e-4);
  EXPECT_NEAR(d->ci_high, 5.0 / 3 + 4.3027 / 3, 1e-4);
  EXPECT_NEAR(d->effect_size, (5.0 / 3) / std::sqrt(1.0 / 3), 1e-12);
  EXPECT_FALSE(ComparePaired({}).ok());
}

}  // namespace
}  // namespace forgetlab::stats
