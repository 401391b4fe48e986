// Limits on the strings a request may carry, shared by both services.
#ifndef FORGETLAB_SERVER_REQUEST_LIMITS_H_
#define FORGETLAB_SERVER_REQUEST_LIMITS_H_

#include <cstddef>

namespace forgetlab {

// Names, request ids, hosts, devices and progress phases.
inline constexpr size_t kMaxNameLength = 256;

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_REQUEST_LIMITS_H_
