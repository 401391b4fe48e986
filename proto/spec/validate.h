// Validation of a resolved experiment spec and of data paths, with errors
// that name the field and what to do.
#ifndef FORGETLAB_PROTO_SPEC_VALIDATE_H_
#define FORGETLAB_PROTO_SPEC_VALIDATE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

inline constexpr size_t kMaxDataPathLength = 1024;
// Longest task name (each job stores its own copy).
inline constexpr size_t kMaxTaskNameLength = 64;

// Checks a resolved spec. Errors are INVALID_ARGUMENT and name the field as
// `prefix` + path, e.g. "base.model.width must be between 1 and 8192 (got 0)".
absl::Status ValidateExperiment(const v1::ExperimentSpec& resolved,
                                absl::string_view prefix);

// Checks both the vision and the LM rules make, in the same words.
// A training phase ("pretrain" or "finetune"): steps, batch size, rate.
absl::Status CheckPhase(absl::string_view prefix, absl::string_view phase,
                        int steps, int batch_size, double lr);
// tasks[index].name: short and printable (every job stores its own copy).
absl::Status CheckTaskName(absl::string_view prefix, int index,
                           const std::string& name);
// eval.eval_every within finetune.steps, and a non-negative seed.
absl::Status CheckEvalAndSeed(const v1::ExperimentSpec& resolved,
                              absl::string_view prefix);

// Checks the form of data.path for `dataset`: absolute, no "..", at most
// kMaxDataPathLength characters, no control characters.
absl::Status CheckDataPathForm(absl::string_view prefix,
                               const std::string& dataset,
                               const std::string& path);

// Checks that absolute `path` lies inside one of the folders in `roots`,
// lexically: no "..", no "." segment, and `path` equals a root or starts with
// a root followed by '/'. An empty `roots` accepts any such path. The worker
// also resolves symbolic links before it trusts a path.
absl::Status CheckDataPath(absl::string_view path,
                           const std::vector<std::string>& roots);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_VALIDATE_H_
