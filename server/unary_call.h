// Unary calls on gRPC's callback API with their edge in one place: the call
// is authorized, the handler computes an absl::Status, and that status is
// converted once (grpc_status.h) when the call finishes.
#ifndef FORGETLAB_SERVER_UNARY_CALL_H_
#define FORGETLAB_SERVER_UNARY_CALL_H_

#include <grpcpp/grpcpp.h>

#include <functional>

#include "absl/status/status.h"
#include "server/access_policy.h"
#include "server/grpc_status.h"

namespace forgetlab {

// Ends a call with a status, from any thread, once.
using FinishCall = std::function<void(const absl::Status&)>;

// Runs a unary call whose answer may come later: authorizes it (and checks
// that `request` was readable), then calls
// `start(who, finish)`; `finish(status)` ends the call.
template <typename Start>
grpc::ServerUnaryReactor* UnaryCall(grpc::CallbackServerContext* context,
                                    const google::protobuf::Message& request,
                                    const AccessPolicy& policy, Access access,
                                    Start start) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> who = policy.Authorize(*context, request, access);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
  } else {
    start(*who, FinishCall([reactor](const absl::Status& s) {
      reactor->Finish(ToGrpcStatus(s));
    }));
  }
  return reactor;
}

// Runs a unary call answered at once: authorizes it, then finishes it with
// `body(who)`, an absl::Status.
template <typename Body>
grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                const google::protobuf::Message& request,
                                const AccessPolicy& policy, Access access,
                                Body body) {
  return UnaryCall(context, request, policy, access,
                   [&body](const Principal& who, const FinishCall& finish) {
                     finish(body(who));
                   });
}

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_UNARY_CALL_H_
