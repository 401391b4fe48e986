// A paired comparison: the mean of b - a over pairs that differ only in the
// compared value, with a Student-t interval and an effect size.
#ifndef FORGETLAB_PROTO_STATS_PAIRED_H_
#define FORGETLAB_PROTO_STATS_PAIRED_H_

#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace forgetlab::stats {

struct PairedDifference {
  int pairs = 0;
  double mean_a = 0;
  double mean_b = 0;
  double mean = 0;    // of b - a
  double sd = 0;      // sample standard deviation of b - a (0 for one pair)
  double ci_low = 0;  // 95% Student-t interval of the mean difference
  double ci_high = 0;
  // Cohen's d_z: mean / sd, the difference in units of its own spread; 0
  // when sd is 0 or there is one pair.
  double effect_size = 0;
};

// `pairs` holds (a, b). INVALID_ARGUMENT when it is empty.
absl::StatusOr<PairedDifference> ComparePaired(
    const std::vector<std::pair<double, double>>& pairs);

}  // namespace forgetlab::stats

#endif  // FORGETLAB_PROTO_STATS_PAIRED_H_
