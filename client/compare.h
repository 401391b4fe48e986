// `forgetlab compare`: one axis's value a against b, over results paired by
// seed and every other axis (proto/stats/paired.h), and its text and JSON
// forms.
#ifndef FORGETLAB_CLIENT_COMPARE_H_
#define FORGETLAB_CLIENT_COMPARE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "proto/stats/paired.h"

namespace forgetlab {

struct Comparison {
  std::string metric;
  std::string axis;
  double a = 0;
  double b = 0;
  std::vector<std::string> paired_by;  // the other axes, seed included
  int unpaired_a = 0;                  // results at a without a partner at b
  int unpaired_b = 0;
  stats::PairedDifference difference;
  // The interval of b - a excludes 0.
  bool Resolved() const {
    return difference.pairs > 1 &&
           (difference.ci_low > 0 || difference.ci_high < 0);
  }
};

// INVALID_ARGUMENT naming what is wrong (and what exists) when no result has
// `axis`, a or b is not one of its values, a result lacks `metric`, or no
// result pairs up.
absl::StatusOr<Comparison> ComparePairs(
    const std::vector<v1::JobResultEntry>& results, const std::string& metric,
    const std::string& axis, double a, double b);

std::string ComparisonText(const Comparison& c);

// {"metric": str, "axis": str, "a": number, "b": number,
//  "paired_by": [str, ...], "pairs": int, "unpaired_a": int,
//  "unpaired_b": int, "mean_a": x, "mean_b": x, "mean_difference": x,
//  "sd_difference": x, "ci95": [lo, hi], "effect_size_dz": x,
//  "resolved": bool}
// The difference is b - a.
std::string ComparisonJson(const Comparison& c);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_COMPARE_H_
