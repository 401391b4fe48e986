// SHA-256 (FIPS 180-4), so that worker/train can fingerprint its data with
// the standard library alone.
#ifndef FORGETLAB_WORKER_TRAIN_SHA256_H_
#define FORGETLAB_WORKER_TRAIN_SHA256_H_

#include <string>

namespace forgetlab::train {

// The SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(const std::string& data);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_SHA256_H_
