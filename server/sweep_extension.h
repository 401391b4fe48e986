// Growing a submitted sweep (ExtendSweep): its grid with more seeds or more
// axis values, and which of the grown grid's jobs to offer the store.
#ifndef FORGETLAB_SERVER_SWEEP_EXTENSION_H_
#define FORGETLAB_SERVER_SWEEP_EXTENSION_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "proto/spec/grid.h"

namespace forgetlab {

inline constexpr int kMaxExtensionSeeds = 1000;
inline constexpr int kMaxExtensionCells = 1000;

struct ExtensionPlan {
  // The grown sweep; stored only when `spec_changed` (a request limited to
  // some cells leaves the sweep's spec as it was).
  v1::SweepSpec spec;
  bool spec_changed = false;
  // Every job of the grown grid inside the requested cells; the store adds
  // those the sweep does not have.
  std::vector<ExpandedJob> jobs;
  // Axes the sweep did not have, with the value its jobs ran with.
  std::map<std::string, double> new_axes;
};

// INVALID_ARGUMENT naming the request field: nothing to add, too many seeds
// or cells, `only` together with `add`, a field that is not a numeric spec
// field, a new axis whose value differs between the sweep's jobs, or a grown
// grid that fails the sweep's own checks (ExpandSweep, `max_jobs`).
absl::StatusOr<ExtensionPlan> PlanExtension(
    const v1::SweepSpec& stored, const v1::ExtendSweepRequest& request,
    int max_jobs);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_SWEEP_EXTENSION_H_
