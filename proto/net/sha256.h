// Incremental SHA-256 (OpenSSL) for artifacts: the server hashes an upload
// as it arrives and a download as it is read, the worker what it receives.
#ifndef FORGETLAB_PROTO_NET_SHA256_H_
#define FORGETLAB_PROTO_NET_SHA256_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace forgetlab {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view bytes);
  // 64 lowercase hex digits of everything given so far; ends the hash.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// The SHA-256 of a file's bytes; NOT_FOUND when it cannot be read.
absl::StatusOr<std::string> FileSha256(const std::string& path);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_NET_SHA256_H_
