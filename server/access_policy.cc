// Token, role and owner checks.
#include "server/access_policy.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "proto/grpc_traits/unreadable_request.h"

namespace forgetlab {

absl::StatusOr<Principal> AccessPolicy::Authorize(
    const grpc::CallbackServerContext& context,
    const google::protobuf::Message& request, Access access) const {
  absl::StatusOr<Principal> who = FindCaller(context, access);
  if (who.ok() && IsUnreadableRequest(request)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request is not a readable ", request.GetTypeName(),
        ": a string field is not valid UTF-8, or the bytes are not that "
        "protobuf message; build the client from forgetlab.proto and send "
        "UTF-8 text"));
  }
  return who;
}

absl::StatusOr<Principal> AccessPolicy::FindCaller(
    const grpc::CallbackServerContext& context, Access access) const {
  if (!tokens_.has_value()) return Principal{"", Role::kAdmin};
  std::optional<Principal> found;
  auto it = context.client_metadata().find("authorization");
  if (it != context.client_metadata().end()) {
    absl::string_view value(it->second.data(), it->second.size());
    if (absl::ConsumePrefix(&value, "Bearer ")) found = tokens_->Find(value);
  }
  if (!found.has_value()) {
    LOG_EVERY_N(WARNING, 100)
        << "call without a known token from " << context.peer() << " ("
        << google::COUNTER << " so far)";
    return absl::UnauthenticatedError(
        "missing or unknown token: pass --token=TOKEN or set FORGETLAB_TOKEN "
        "(an admin makes one with 'forgetlab-server tokens add')");
  }
  const Role needed = access == Access::kWorker  ? Role::kWorker
                      : access == Access::kAdmin ? Role::kAdmin
                                                 : Role::kClient;
  if (found->role != Role::kAdmin && found->role != needed) {
    return absl::PermissionDeniedError(absl::StrCat(
        "token '", found->name, "' has role ", RoleName(found->role),
        "; this call needs role ", RoleName(needed), " or admin"));
  }
  return *std::move(found);
}

absl::Status CheckOwner(const Principal& who, const std::string& owner,
                        const std::string& sweep_id) {
  if (who.role == Role::kAdmin || owner == who.name) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("sweep ", sweep_id, " belongs to '", owner,
                   "'; only its owner or an admin may change it"));
}

}  // namespace forgetlab
