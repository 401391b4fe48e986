// The one place absl::Status becomes grpc::Status: handlers compute in
// absl::Status and convert once, when the call finishes. Every code is
// pinned, so the cast below cannot silently change a code.
#ifndef FORGETLAB_SERVER_GRPC_STATUS_H_
#define FORGETLAB_SERVER_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"

namespace forgetlab {

#define FORGETLAB_PIN_CODE(absl_code, grpc_code)                 \
  static_assert(static_cast<int>(absl::StatusCode::absl_code) == \
                static_cast<int>(grpc::StatusCode::grpc_code))
FORGETLAB_PIN_CODE(kOk, OK);
FORGETLAB_PIN_CODE(kCancelled, CANCELLED);
FORGETLAB_PIN_CODE(kUnknown, UNKNOWN);
FORGETLAB_PIN_CODE(kInvalidArgument, INVALID_ARGUMENT);
FORGETLAB_PIN_CODE(kDeadlineExceeded, DEADLINE_EXCEEDED);
FORGETLAB_PIN_CODE(kNotFound, NOT_FOUND);
FORGETLAB_PIN_CODE(kAlreadyExists, ALREADY_EXISTS);
FORGETLAB_PIN_CODE(kPermissionDenied, PERMISSION_DENIED);
FORGETLAB_PIN_CODE(kResourceExhausted, RESOURCE_EXHAUSTED);
FORGETLAB_PIN_CODE(kFailedPrecondition, FAILED_PRECONDITION);
FORGETLAB_PIN_CODE(kAborted, ABORTED);
FORGETLAB_PIN_CODE(kOutOfRange, OUT_OF_RANGE);
FORGETLAB_PIN_CODE(kUnimplemented, UNIMPLEMENTED);
FORGETLAB_PIN_CODE(kInternal, INTERNAL);
FORGETLAB_PIN_CODE(kUnavailable, UNAVAILABLE);
FORGETLAB_PIN_CODE(kDataLoss, DATA_LOSS);
FORGETLAB_PIN_CODE(kUnauthenticated, UNAUTHENTICATED);
#undef FORGETLAB_PIN_CODE

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_GRPC_STATUS_H_
