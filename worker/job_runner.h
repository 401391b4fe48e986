// Runs one forgetlab.v1.ExperimentSpec through the LibTorch core: the single
// code path shared by forgetlab-worker and forgetlab-train. Adapts proto to
// the trainer's plain structs and back.
#ifndef FORGETLAB_WORKER_JOB_RUNNER_H_
#define FORGETLAB_WORKER_JOB_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "worker/train/experiment.h"

namespace forgetlab {

// The trainer's config for a resolved spec (ResolveDefaults first): every
// field the trainer reads comes from the spec; the knobs of the other model
// families keep ExperimentConfig's defaults.
train::ExperimentConfig ToTrainConfig(const v1::ExperimentSpec& resolved);

// The API message for a trainer result.
v1::JobResult ToJobResult(const train::ExperimentResult& result);

// The trainer's status as an absl::Status with the same code.
absl::Status FromTrainStatus(const train::TrainStatus& status);

// Resolves defaults (once), validates (INVALID_ARGUMENT naming the field),
// trains.
absl::StatusOr<v1::JobResult> RunJob(const v1::ExperimentSpec& spec,
                                     const train::RunOptions& options);

// Resolves symbolic links in `path` and checks that the result lies in one
// of `roots` (themselves resolved), so a link inside a root cannot lead out.
// OK for an empty path or empty `roots`; NOT_FOUND when `path` does not
// exist; PERMISSION_DENIED when it resolves outside every root.
absl::Status CheckDataRoots(const std::string& path,
                            const std::vector<std::string>& roots);

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_JOB_RUNNER_H_
