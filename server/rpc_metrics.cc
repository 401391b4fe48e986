// The RPC metrics interceptor.
#include "server/rpc_metrics.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"

namespace forgetlab {
namespace {

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// Counts every call and times it, from its start to its status.
class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(std::string method, metrics::Registry* registry)
      : method_(std::move(method)), registry_(registry), start_(absl::Now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      registry_
          ->GetCounter(
              "forgetlab_rpc_requests_total",
              "RPCs answered, by method and status code.",
              {{"method", method_}, {"code", CodeName(status.error_code())}})
          ->Add();
      registry_
          ->GetHistogram("forgetlab_rpc_duration_seconds",
                         "RPC latency from arrival to status, by method "
                         "(LeaseJob includes its long poll).",
                         {{"method", method_}}, metrics::LatencyBuckets())
          ->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  metrics::Registry* const registry_;
  const absl::Time start_;
};

}  // namespace

std::string MethodLabel(const char* path) {
  std::string name = path == nullptr ? "" : path;
  if (name.size() < 2 || name[0] != '/') return "other";
  name = name.substr(1);
  std::replace(name.begin(), name.end(), '/', '.');
  if (name == "grpc.health.v1.Health.Check") return "Health.Check";
  if (name == "grpc.health.v1.Health.Watch") return "Health.Watch";
  const google::protobuf::MethodDescriptor* method =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          name);
  return method == nullptr ? "other" : method->name();
}

grpc::experimental::Interceptor* RpcMetricsFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcMetricsInterceptor(MethodLabel(info->method()), registry_);
}

}  // namespace forgetlab
