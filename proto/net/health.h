// grpc.health.v1.Health on gRPC's callback API, answered by a function, for
// the plaintext --health_listen ports that Kubernetes' gRPC probes call (the
// kubelet's probes speak neither TLS nor tokens).
#ifndef FORGETLAB_PROTO_NET_HEALTH_H_
#define FORGETLAB_PROTO_NET_HEALTH_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace forgetlab {

// Check only (Watch answers UNIMPLEMENTED). `serving` answers for a service
// name: true SERVING, false NOT_SERVING, nullopt NOT_FOUND.
class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using Answer = std::function<std::optional<bool>(const std::string&)>;
  explicit HealthService(Answer serving) : serving_(std::move(serving)) {}

  grpc::ServerUnaryReactor* Check(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request,
      grpc::health::v1::HealthCheckResponse* response) override;

 private:
  const Answer serving_;
};

// Serves `service` alone, plaintext, on `listen` (host:port). `flag` names
// the option in errors, e.g. "--health_listen".
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(
    const std::string& listen, const std::string& flag, HealthService* service,
    int* port);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_NET_HEALTH_H_
