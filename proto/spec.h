// Experiment and sweep specs: the default protocol, validation with errors
// that name the field, grid expansion and canonical job keys.
#ifndef FORGETLAB_PROTO_SPEC_H_
#define FORGETLAB_PROTO_SPEC_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

inline constexpr char kDefaultFashionMnistPath[] =
    "/usr/share/datasets/fashion-mnist";
inline constexpr int kDefaultMaxJobsPerSweep = 10000;
inline constexpr int kDefaultMaxAttempts = 3;

// Returns `spec` with every unset field set to DESIGN.md's default protocol.
// Fields the user set are kept, valid or not.
v1::ExperimentSpec ResolveDefaults(const v1::ExperimentSpec& spec);

// Checks a resolved spec. Errors are INVALID_ARGUMENT and name the field as
// `prefix` + path, e.g. "base.model.width must be between 1 and 8192 (got 0)".
absl::Status ValidateExperiment(const v1::ExperimentSpec& resolved,
                                absl::string_view prefix);

// Sets the numeric field at `path` (e.g. "model.width", "finetune.lr",
// "seed") of `spec`. INVALID_ARGUMENT when the path names no numeric field or
// the value does not fit its type.
absl::Status SetNumericField(absl::string_view path, double value,
                             v1::ExperimentSpec* spec);

// Reads the numeric field at `path` of `spec`.
absl::StatusOr<double> GetNumericField(const v1::ExperimentSpec& spec,
                                       absl::string_view path);

// Deterministic serialisation of a resolved spec; equal bytes mean the same
// experiment.
std::string CanonicalSpec(const v1::ExperimentSpec& resolved);

// 16 hex digits of a 64-bit FNV-1a hash of the canonical spec. A content
// address for the result cache, not a security boundary.
std::string SpecKey(const v1::ExperimentSpec& resolved);

// Parameters of the model a resolved spec trains (body plus one head per
// task), for cost estimates before anything runs. The trainer reports the
// exact count with each result.
int64_t EstimateParameterCount(const v1::ExperimentSpec& resolved);

// Training samples a resolved spec processes: pretraining (when N > 0) plus
// every task, steps x batch size.
int64_t TrainingSamples(const v1::ExperimentSpec& resolved);

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
inline constexpr size_t kMaxDataPathLength = 1024;

// Checks that absolute `path` lies inside one of the folders in `roots`,
// lexically: no "..", no "." segment, and `path` equals a root or starts with
// a root followed by '/'. An empty `roots` accepts any such path. The worker
// also resolves symbolic links before it trusts a path.
absl::Status CheckDataPath(absl::string_view path,
                           const std::vector<std::string>& roots);

// Validates a sweep and expands it into its jobs: the cartesian product of
// the axes (first axis outermost) and the seeds. Fails with INVALID_ARGUMENT
// naming the field (e.g. "axes[1] (pretrain.examples) value -5: ...") and
// with INVALID_ARGUMENT when the grid has more than `max_jobs` jobs.
absl::StatusOr<std::vector<ExpandedJob>> ExpandSweep(const v1::SweepSpec& sweep,
                                                     int max_jobs);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_H_
