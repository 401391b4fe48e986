// RPC metrics: a gRPC server interceptor that counts every call by method
// and status code and times it, into forgetlab_rpc_requests_total and the
// forgetlab_rpc_duration_seconds histogram.
#ifndef FORGETLAB_SERVER_RPC_METRICS_H_
#define FORGETLAB_SERVER_RPC_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <string>

#include "proto/net/prometheus.h"

namespace forgetlab {

// The method label of a call: "/forgetlab.v1.WorkerService/LeaseJob" is
// "LeaseJob". Names this server does not serve are "other", so callers
// cannot create series at will.
std::string MethodLabel(const char* path);

class RpcMetricsFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsFactory(metrics::Registry* registry)
      : registry_(registry) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  metrics::Registry* const registry_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_RPC_METRICS_H_
