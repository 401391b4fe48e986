// Requests that protobuf cannot parse reach forgetlab's handlers, marked,
// instead of being answered by gRPC itself.
//
// gRPC 1.51's callback server answers a request that fails to deserialize
// with UNIMPLEMENTED and an empty message (server_callback_handlers.h), so a
// client that sends a string that is not UTF-8 learns nothing. The
// specializations below parse forgetlab.v1's requests as gRPC would; when
// parsing fails they hand the handler an empty request that carries a marker,
// and AccessPolicy::Authorize answers it with INVALID_ARGUMENT.
//
// The build force-includes this header in every file that sees the generated
// service code (proto/CMakeLists.txt), so every file uses the same
// SerializationTraits for these types.
#ifndef FORGETLAB_PROTO_GRPC_TRAITS_UNREADABLE_REQUEST_H_
#define FORGETLAB_PROTO_GRPC_TRAITS_UNREADABLE_REQUEST_H_

#include <google/protobuf/message.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// The highest field number protobuf allows; forgetlab.v1 never uses it.
inline constexpr int kUnreadableRequestField = (1 << 29) - 1;

// Whether `request` stands for bytes that protobuf could not parse.
bool IsUnreadableRequest(const google::protobuf::Message& request);

// Clears `request` and marks it unreadable.
void MarkUnreadable(google::protobuf::Message* request);

}  // namespace forgetlab

namespace grpc {

// Serializes as protobuf does; a parse failure yields a marked message.
template <class T>
class UnreadableRequestTraits {
 public:
  static Status Serialize(const protobuf::MessageLite& msg, ByteBuffer* bb,
                          bool* own_buffer) {
    return GenericSerialize<ProtoBufferWriter, T>(msg, bb, own_buffer);
  }
  static Status Deserialize(ByteBuffer* buffer, protobuf::MessageLite* msg) {
    if (buffer == nullptr) {
      return Status(StatusCode::INTERNAL, "No payload");
    }
    Status status = GenericDeserialize<ProtoBufferReader, T>(buffer, msg);
    if (status.ok()) return status;
    forgetlab::MarkUnreadable(static_cast<T*>(msg));
    return Status::OK;
  }
};

#define FORGETLAB_UNREADABLE_REQUEST_TRAITS(Type)        \
  template <>                                            \
  class SerializationTraits<::forgetlab::v1::Type, void> \
      : public UnreadableRequestTraits<::forgetlab::v1::Type> {}

FORGETLAB_UNREADABLE_REQUEST_TRAITS(SubmitSweepRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(GetSweepRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(ListSweepsRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(ListJobsRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(WatchSweepRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(CancelSweepRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(RetrySweepRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(ExtendSweepRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(QueryTableRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(ListResultsRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(ListWorkersRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(DeleteSweepRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(InvalidateResultsRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(RegisterWorkerRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(LeaseJobRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(HeartbeatRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(CompleteJobRequest);
FORGETLAB_UNREADABLE_REQUEST_TRAITS(FailJobRequest);

#undef FORGETLAB_UNREADABLE_REQUEST_TRAITS

}  // namespace grpc

#endif  // FORGETLAB_PROTO_GRPC_TRAITS_UNREADABLE_REQUEST_H_
