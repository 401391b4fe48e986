// Where the scheduler may listen: a non-loopback address only with TLS and
// tokens (or an explicit --allow_insecure), so a lab network never gets an
// open scheduler by accident.
#ifndef FORGETLAB_SERVER_LISTEN_POLICY_H_
#define FORGETLAB_SERVER_LISTEN_POLICY_H_

#include <string>

#include "absl/status/status.h"

namespace forgetlab {

// True for 127.0.0.0/8, ::1 and "localhost" listen addresses ("host:port").
bool IsLoopbackAddress(const std::string& listen);

// OK when `listen` is "host:port" with a port from 0 (any free port) to
// 65535; otherwise INVALID_ARGUMENT naming `flag` (e.g. "--listen").
absl::Status CheckListenAddress(const std::string& listen,
                                const std::string& flag);

// OK when `listen` is loopback, or secured (TLS and tokens). Otherwise
// FAILED_PRECONDITION saying what is missing and how to add it, unless
// `allow_insecure`, which logs a loud warning instead.
absl::Status CheckListenPolicy(const std::string& listen, bool tls, bool tokens,
                               bool allow_insecure);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_LISTEN_POLICY_H_
