// Limits on the strings a request may carry, shared by both services, and
// the two ways a client's string is cut or shown.
#ifndef FORGETLAB_SERVER_REQUEST_LIMITS_H_
#define FORGETLAB_SERVER_REQUEST_LIMITS_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace forgetlab {

// Names, request ids, hosts, devices and progress phases.
inline constexpr size_t kMaxNameLength = 256;
// A job's error message.
inline constexpr size_t kMaxErrorLength = 4096;

// The longest prefix of `text` that has at most `max_bytes` bytes and does
// not end inside a UTF-8 character, so the stored string stays valid UTF-8
// (a cut character would make every later read of it fail to parse).
std::string TruncateUtf8(absl::string_view text, size_t max_bytes);

// `text` cut to `max_bytes` with control characters and non-ASCII bytes
// escaped (\n, \x1b, ...): safe in a log line, where a client's newline
// could otherwise forge a line of its own.
std::string LogSafe(absl::string_view text, size_t max_bytes = kMaxNameLength);

// Sends protobuf's own log lines to glog, and at most one in 100 of its
// complaints about requests that do not parse (invalid UTF-8), which any
// client can cause at will. Process-wide; forgetlab-server calls it once.
void RouteProtobufLogs();

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_REQUEST_LIMITS_H_
