// Numeric fields of an ExperimentSpec addressed by dotted paths
// ("model.width", "finetune.lr", "seed"): the axes of a sweep.
#ifndef FORGETLAB_PROTO_SPEC_FIELD_PATH_H_
#define FORGETLAB_PROTO_SPEC_FIELD_PATH_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "google/protobuf/message.h"

namespace forgetlab {

// Sets the numeric field at `path` (e.g. "model.width", "finetune.lr",
// "seed") of `spec`. INVALID_ARGUMENT when the path names no numeric field or
// the value does not fit its type.
absl::Status SetNumericField(absl::string_view path, double value,
                             v1::ExperimentSpec* spec);

// Reads the numeric field at `path` of `spec`.
absl::StatusOr<double> GetNumericField(const v1::ExperimentSpec& spec,
                                       absl::string_view path);

// Every set field of `message` as (dotted path, text) in field order:
// numbers as FieldText, enums by name, bools as true/false; a repeated
// scalar as its values joined by spaces; a repeated message's elements as
// "tasks[0].name", ... Unset optional fields and empty strings are left out.
std::vector<std::pair<std::string, std::string>> FlattenFields(
    const google::protobuf::Message& message);

// A number as FlattenFields writes it: whole numbers without a fraction
// ("32", "50000"), others with up to 10 significant digits ("0.01").
std::string FieldText(double value);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_FIELD_PATH_H_
