// A scaling law with bootstrap confidence intervals: the law is fitted to the
// cell means, then refitted to cell means whose seeds were resampled, cell by
// cell, `resamples` times.
#ifndef FORGETLAB_PROTO_STATS_TREND_H_
#define FORGETLAB_PROTO_STATS_TREND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/stats/power_law.h"

namespace forgetlab::stats {

// The results of one cell: its coordinates and one value per seed.
struct Cell {
  double x = 0;
  double y = 1;
  std::vector<double> values;
};

// A 95% percentile interval.
struct Interval {
  double low = 0;
  double high = 0;
  // A trend whose interval holds 0 is not resolved.
  bool ExcludesZero() const { return low > 0 || high < 0; }
};

struct BootstrapOptions {
  int resamples = 1000;
  // The same seed, cells and resamples give the same intervals.
  uint64_t seed = 1;
};

struct Trend {
  bool joint = false;            // m = c + a * x^alpha * y^beta
  int results = 0;               // values over all cells
  std::vector<FitPoint> points;  // the cell means the laws were fitted to
  PowerLaw law;
  Interval alpha;
  Interval beta;   // joint law only
  LogSlope slope;  // one-axis trend only
  Interval slope_ci;

  // "grows" or "falls" with x when the slope's interval (joint: alpha's)
  // excludes 0, else "not resolved".
  std::string Direction() const;
};

// m = c + a * x^alpha and the slope per decade of x. INVALID_ARGUMENT when a
// cell is empty or has x <= 0, or fewer than 3 distinct x remain.
absl::StatusOr<Trend> FitTrend(const std::vector<Cell>& cells,
                               const BootstrapOptions& options);

// m = c + a * x^alpha * y^beta. INVALID_ARGUMENT when a cell is empty or has
// x or y <= 0, or there are fewer than 2 distinct x, 2 distinct y or 5 cells.
absl::StatusOr<Trend> FitJointTrend(const std::vector<Cell>& cells,
                                    const BootstrapOptions& options);

}  // namespace forgetlab::stats

#endif  // FORGETLAB_PROTO_STATS_TREND_H_
