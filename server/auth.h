// Who may call what: bearer tokens with roles, stored as SHA-256 hashes in a
// tokens file, and the TLS credentials the server listens with.
#ifndef FORGETLAB_SERVER_AUTH_H_
#define FORGETLAB_SERVER_AUTH_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace forgetlab {

// worker: the five WorkerService calls. client: submit, read everything, and
// cancel or retry its own sweeps. admin: everything.
enum class Role { kWorker, kClient, kAdmin };

absl::string_view RoleName(Role role);
// "worker", "client" or "admin".
std::optional<Role> ParseRole(absl::string_view name);

// The caller a token belongs to.
struct Principal {
  std::string name;
  Role role = Role::kAdmin;
};

// The tokens a server accepts. A tokens file has one line per token:
//   sha256:<64 hex digits> <role> <name>
// Blank lines and lines starting with '#' are ignored. The file never holds
// a token itself, so reading it does not let anyone call the server.
class TokenSet {
 public:
  // Parses `path`. Errors name the file, the line and what to fix.
  static absl::StatusOr<TokenSet> Load(const std::string& path);

  // The principal whose hash matches `token`, or nullopt. Every stored hash
  // is compared, in constant time each, whatever matches.
  std::optional<Principal> Find(absl::string_view token) const;

  size_t size() const { return entries_.size(); }

 private:
  friend absl::StatusOr<std::string> AddToken(const std::string& path,
                                              Role role,
                                              const std::string& name);
  struct Entry {
    std::string hash;  // 32 raw bytes
    Principal principal;
  };
  std::vector<Entry> entries_;
};

// Makes a new random token (256 bits from the kernel), appends its hash with
// `role` and `name` to `path` (created with mode 0600 if missing) and returns
// the token. `name` must be 1-64 characters of [A-Za-z0-9._@-] and not yet
// in the file.
absl::StatusOr<std::string> AddToken(const std::string& path, Role role,
                                     const std::string& name);

// Reads a PEM file a flag names; errors name the flag and the path.
absl::StatusOr<std::string> ReadPemFile(const std::string& flag,
                                        const std::string& path);

// TLS server credentials from PEM files. A non-empty `client_ca_path`
// requires and verifies client certificates (mutual TLS).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsServerCredentials(
    const std::string& cert_path, const std::string& key_path,
    const std::string& client_ca_path);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_AUTH_H_
