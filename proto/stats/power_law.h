// Least-squares fits of scaling laws to cell means:
//   m = c + a * x^alpha               (one axis)
//   m = c + a * x^alpha * y^beta      (two axes, the joint law)
//   m = b + s * log10(x)              (the plain slope per decade)
// Each point is a cell's mean weighted by its number of results, so a fit to
// the means is the least-squares fit to every result.
#ifndef FORGETLAB_PROTO_STATS_POWER_LAW_H_
#define FORGETLAB_PROTO_STATS_POWER_LAW_H_

#include <vector>

namespace forgetlab::stats {

// Exponents are searched in [-kMaxExponent, kMaxExponent]. With c free, an
// exponent at the bound means the data do not pin it (a step, or no trend).
inline constexpr double kMaxExponent = 4.0;

struct FitPoint {
  double x = 0;  // > 0
  double y = 1;  // > 0; only the joint law reads it
  double mean = 0;
  double weight = 1;  // the cell's number of results
};

struct PowerLaw {
  double c = 0;
  double a = 0;  // in the units of x (and y) as given
  double alpha = 0;
  double beta = 0;  // 0 for the one-axis law
  // 1 - weighted residual sum of squares / weighted total sum of squares,
  // both over the cell means.
  double r2 = 0;
  bool at_bound = false;  // an exponent sits on +-kMaxExponent

  double Predict(double x, double y = 1) const;
};

struct LogSlope {
  double intercept = 0;
  double slope = 0;  // change of m per tenfold x
};

// m = c + a * x^alpha. Needs at least 3 distinct x, all > 0.
PowerLaw FitPowerLaw(const std::vector<FitPoint>& points);
// m = c + a * x^alpha * y^beta. Needs at least 2 distinct x, 2 distinct y
// and 5 points, all coordinates > 0.
PowerLaw FitJointPowerLaw(const std::vector<FitPoint>& points);
// m = intercept + slope * log10(x). Needs at least 2 distinct x, all > 0.
LogSlope FitLogSlope(const std::vector<FitPoint>& points);

}  // namespace forgetlab::stats

#endif  // FORGETLAB_PROTO_STATS_POWER_LAW_H_
