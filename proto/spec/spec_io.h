// Reading sweep and experiment files: text-format proto (.textproto, .txtpb,
// .pbtxt) or JSON (.json), with errors naming file:line:column and the field.
#ifndef FORGETLAB_PROTO_SPEC_SPEC_IO_H_
#define FORGETLAB_PROTO_SPEC_SPEC_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace forgetlab {

// Parses `text` into `message`; `filename` decides the format (.json is
// JSON, anything else text format) and prefixes error messages.
absl::Status ParseSpecText(absl::string_view filename, absl::string_view text,
                           google::protobuf::Message* message);

// Reads and parses a file. NOT_FOUND when it cannot be read.
absl::Status ParseSpecFile(const std::string& path,
                           google::protobuf::Message* message);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_SPEC_SPEC_IO_H_
