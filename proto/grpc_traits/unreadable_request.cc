// The marker on requests that protobuf could not parse.
#include "proto/grpc_traits/unreadable_request.h"

#include <google/protobuf/unknown_field_set.h>

namespace forgetlab {

bool IsUnreadableRequest(const google::protobuf::Message& request) {
  const google::protobuf::UnknownFieldSet& unknown =
      request.GetReflection()->GetUnknownFields(request);
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (unknown.field(i).number() == kUnreadableRequestField) return true;
  }
  return false;
}

void MarkUnreadable(google::protobuf::Message* request) {
  request->Clear();
  request->GetReflection()->MutableUnknownFields(request)->AddVarint(
      kUnreadableRequestField, 1);
}

}  // namespace forgetlab
