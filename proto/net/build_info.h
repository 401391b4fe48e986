// What this build of forgetlab is: its version and, when it was built from a
// git checkout, the commit. Regenerated on every build (build_info.cmake).
#ifndef FORGETLAB_PROTO_NET_BUILD_INFO_H_
#define FORGETLAB_PROTO_NET_BUILD_INFO_H_

namespace forgetlab {

// The project version from CMakeLists.txt, e.g. "0.5.0".
const char* ForgetlabVersion();

// The commit hash, with "-dirty" when tracked files had changes; "" when not
// built from a checkout.
const char* ForgetlabCommit();

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_NET_BUILD_INFO_H_
