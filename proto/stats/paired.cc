// Paired differences.
#include "proto/stats/paired.h"

#include <cmath>

#include "proto/stats/student_t.h"

namespace forgetlab::stats {

absl::StatusOr<PairedDifference> ComparePaired(
    const std::vector<std::pair<double, double>>& pairs) {
  if (pairs.empty()) {
    return absl::InvalidArgumentError(
        "no pairs: no result at one value has a partner at the other with "
        "the same seed and other axes");
  }
  PairedDifference out;
  const int n = static_cast<int>(pairs.size());
  out.pairs = n;
  for (const auto& [a, b] : pairs) {
    out.mean_a += a;
    out.mean_b += b;
    out.mean += b - a;
  }
  out.mean_a /= n;
  out.mean_b /= n;
  out.mean /= n;
  if (n > 1) {
    double ss = 0;
    for (const auto& [a, b] : pairs) {
      const double d = b - a - out.mean;
      ss += d * d;
    }
    out.sd = std::sqrt(ss / (n - 1));
  }
  const double half = StudentT975(n - 1) * out.sd / std::sqrt(n);
  out.ci_low = out.mean - half;
  out.ci_high = out.mean + half;
  out.effect_size = out.sd > 0 ? out.mean / out.sd : 0;
  return out;
}

}  // namespace forgetlab::stats
