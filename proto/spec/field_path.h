// Numeric fields of an ExperimentSpec addressed by dotted paths
// ("model.width", "finetune.lr", "seed"): the axes of a sweep.
#ifndef FORGETLAB_PROTO_SPEC_FIELD_PATH_H_
#define FORGETLAB_PROTO_SPEC_FIELD_PATH_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// Sets the numeric field at `path` (e.g. "model.width", "finetune.lr",
// "seed") of `spec`. INVALID_ARGUMENT when the path names no numeric field or
// the value does not fit its type.
absl::Status SetNumericField(absl::string_view path, double value,
                             v1::ExperimentSpec* spec);

// Reads the numeric field at `path` of `spec`.
absl::StatusOr<double> GetNumericField(const v1::ExperimentSpec& spec,
                                       absl::string_view path);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_FIELD_PATH_H_
