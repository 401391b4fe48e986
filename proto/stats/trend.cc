// Bootstrap of scaling-law fits over seeds.
#include "proto/stats/trend.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"

namespace forgetlab::stats {
namespace {

absl::Status CheckCells(const std::vector<Cell>& cells, bool joint) {
  std::set<double> xs, ys;
  for (const Cell& cell : cells) {
    if (cell.values.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the cell at x = ", cell.x, " has no results"));
    }
    if (!(cell.x > 0) || (joint && !(cell.y > 0))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a power law needs coordinates > 0; the cell at x = ", cell.x,
          joint ? absl::StrCat(", y = ", cell.y) : "", " is not"));
    }
    xs.insert(cell.x);
    ys.insert(cell.y);
  }
  if (!joint && xs.size() < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a power law c + a*x^alpha needs 3 distinct x; there are ", xs.size()));
  }
  if (joint && (xs.size() < 2 || ys.size() < 2 || cells.size() < 5)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the joint law c + a*x^alpha*y^beta needs 2 distinct x, 2 distinct y "
        "and 5 cells; there are ",
        xs.size(), ", ", ys.size(), " and ", cells.size()));
  }
  return absl::OkStatus();
}

std::vector<FitPoint> Means(const std::vector<Cell>& cells) {
  std::vector<FitPoint> points;
  for (const Cell& cell : cells) {
    double sum = 0;
    for (double v : cell.values) sum += v;
    points.push_back({cell.x, cell.y, sum / cell.values.size(),
                      static_cast<double>(cell.values.size())});
  }
  return points;
}

// A trend's cell means and result count, once the cells pass CheckCells.
absl::StatusOr<Trend> Start(const std::vector<Cell>& cells, bool joint) {
  if (absl::Status s = CheckCells(cells, joint); !s.ok()) return s;
  Trend trend;
  trend.joint = joint;
  trend.points = Means(cells);
  for (const Cell& cell : cells) trend.results += cell.values.size();
  return trend;
}

// Cell means of one bootstrap draw: each cell's n values drawn with
// replacement from its own, their deviations from the cell mean scaled by
// sqrt(n / (n - 1)) so that the draw's variance is the sample variance, not
// its (n - 1) / n shrunk plug-in version (a large difference at 3 seeds). A
// cell with one value stays fixed.
std::vector<FitPoint> Resample(const std::vector<Cell>& cells,
                               const std::vector<FitPoint>& means,
                               std::mt19937_64& rng) {
  std::vector<FitPoint> out = means;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::vector<double>& v = cells[i].values;
    const size_t n = v.size();
    if (n < 2) continue;
    double sum = 0;
    // rng() % n: the bias is below 2^-50 for any cell size here, and unlike
    // std::uniform_int_distribution it is the same on every standard library.
    for (size_t k = 0; k < n; ++k) sum += v[rng() % n];
    const double scale = std::sqrt(static_cast<double>(n) / (n - 1));
    out[i].mean = means[i].mean + scale * (sum / n - means[i].mean);
  }
  return out;
}

Interval Percentiles(std::vector<double> draws) {
  std::sort(draws.begin(), draws.end());
  auto at = [&draws](double q) {
    const double pos = q * (draws.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, draws.size() - 1);
    return draws[lo] + (pos - lo) * (draws[hi] - draws[lo]);
  };
  return {at(0.025), at(0.975)};
}

}  // namespace

std::string Trend::Direction() const {
  const Interval& decisive = joint ? alpha : slope_ci;
  if (!decisive.ExcludesZero()) return "not resolved";
  // The sign of d m / d x: a * alpha for the law, the slope's own sign.
  const double sign = joint ? law.a * law.alpha : slope.slope;
  return sign > 0 ? "grows" : "falls";
}

absl::StatusOr<Trend> FitTrend(const std::vector<Cell>& cells,
                               const BootstrapOptions& options) {
  absl::StatusOr<Trend> start = Start(cells, false);
  if (!start.ok()) return start.status();
  Trend& trend = *start;
  trend.law = FitPowerLaw(trend.points);
  trend.slope = FitLogSlope(trend.points);
  std::mt19937_64 rng(options.seed);
  std::vector<double> alphas, slopes;
  for (int b = 0; b < options.resamples; ++b) {
    const std::vector<FitPoint> draw = Resample(cells, trend.points, rng);
    alphas.push_back(FitPowerLaw(draw).alpha);
    slopes.push_back(FitLogSlope(draw).slope);
  }
  if (options.resamples > 0) {
    trend.alpha = Percentiles(alphas);
    trend.slope_ci = Percentiles(slopes);
  }
  return start;
}

absl::StatusOr<Trend> FitJointTrend(const std::vector<Cell>& cells,
                                    const BootstrapOptions& options) {
  absl::StatusOr<Trend> start = Start(cells, true);
  if (!start.ok()) return start.status();
  Trend& trend = *start;
  trend.law = FitJointPowerLaw(trend.points);
  std::mt19937_64 rng(options.seed);
  std::vector<double> alphas, betas;
  for (int b = 0; b < options.resamples; ++b) {
    const PowerLaw law = FitJointPowerLaw(Resample(cells, trend.points, rng));
    alphas.push_back(law.alpha);
    betas.push_back(law.beta);
  }
  if (options.resamples > 0) {
    trend.alpha = Percentiles(alphas);
    trend.beta = Percentiles(betas);
  }
  return start;
}

}  // namespace forgetlab::stats
