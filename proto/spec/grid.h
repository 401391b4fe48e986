// A sweep's grid: validation of its axes and seeds, and expansion into one
// resolved job per cell with its canonical key.
#ifndef FORGETLAB_PROTO_SPEC_GRID_H_
#define FORGETLAB_PROTO_SPEC_GRID_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

struct ExpandedJob {
  v1::ExperimentSpec spec;  // resolved
  std::string spec_key;
  std::string canonical;
  std::map<std::string, double> axis_values;  // every axis, plus "seed"
};

// Limits on a sweep's shape, checked before anything is expanded, so a
// hostile request costs little.
inline constexpr int kMaxAxes = 16;
inline constexpr int kMaxAxisValues = 10000;
inline constexpr size_t kMaxFieldPathLength = 128;
// The resolved specs of all of a sweep's jobs together, in bytes.
inline constexpr size_t kMaxExpandedBytes = size_t{32} << 20;

// Validates a sweep and expands it into its jobs: the cartesian product of
// the axes (first axis outermost) and the seeds. Fails with INVALID_ARGUMENT
// naming the field (e.g. "axes[1] (pretrain.examples) value -5: ...") and
// with INVALID_ARGUMENT when the grid has more than `max_jobs` jobs.
absl::StatusOr<std::vector<ExpandedJob>> ExpandSweep(const v1::SweepSpec& sweep,
                                                     int max_jobs);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_GRID_H_
