// Small helpers for writing JSON text by hand, shared by the CLIs whose JSON
// shapes are documented interfaces (so they are spelled out, not derived
// from proto field names).
#ifndef FORGETLAB_PROTO_NET_JSON_WRITER_H_
#define FORGETLAB_PROTO_NET_JSON_WRITER_H_

#include <string>

#include "absl/strings/string_view.h"

namespace forgetlab {

// A quoted, escaped JSON string.
std::string JsonString(absl::string_view s);

// The shortest decimal that reads back as `value`; `null` if not finite.
std::string JsonNumber(double value);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_NET_JSON_WRITER_H_
