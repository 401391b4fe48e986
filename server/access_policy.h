// Who may make a call: the caller's bearer token, its role, and sweep
// ownership. Without a tokens file every caller is an anonymous admin (the
// server then listens on loopback only; see listen_policy.h).
#ifndef FORGETLAB_SERVER_ACCESS_POLICY_H_
#define FORGETLAB_SERVER_ACCESS_POLICY_H_

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth.h"

namespace forgetlab {

// What a call needs: the worker calls, reading, submitting (cancel and
// retry are submitting plus CheckOwner), or an admin.
enum class Access { kWorker, kRead, kSubmit, kAdmin };

class AccessPolicy {
 public:
  explicit AccessPolicy(std::optional<TokenSet> tokens)
      : tokens_(std::move(tokens)) {}

  // The caller of `context`, if its role allows `access` and `request` was
  // readable. UNAUTHENTICATED for a missing or unknown token,
  // PERMISSION_DENIED for the wrong role, then INVALID_ARGUMENT for a
  // request that protobuf could not parse (proto/grpc_traits/).
  absl::StatusOr<Principal> Authorize(
      const grpc::CallbackServerContext& context,
      const google::protobuf::Message& request, Access access) const;

 private:
  // The caller of `context`, if its role allows `access`.
  absl::StatusOr<Principal> FindCaller(
      const grpc::CallbackServerContext& context, Access access) const;

  const std::optional<TokenSet> tokens_;
};

// PERMISSION_DENIED unless `who` is an admin or `owner`, the owner of
// sweep `sweep_id`.
absl::Status CheckOwner(const Principal& who, const std::string& owner,
                        const std::string& sweep_id);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_ACCESS_POLICY_H_
