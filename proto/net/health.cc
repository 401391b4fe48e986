// The gRPC health service (grpc.health.v1) answered by a function.
#include "proto/net/health.h"

#include "absl/strings/str_cat.h"

namespace forgetlab {

grpc::ServerUnaryReactor* HealthService::Check(
    grpc::CallbackServerContext* context,
    const grpc::health::v1::HealthCheckRequest* request,
    grpc::health::v1::HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::optional<bool> serving = serving_(request->service());
  if (!serving.has_value()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 absl::StrCat("no health status for service \"",
                                              request->service(), "\"")));
    return reactor;
  }
  response->set_status(
      *serving ? grpc::health::v1::HealthCheckResponse::SERVING
               : grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(
    const std::string& listen, const std::string& flag, HealthService* service,
    int* port) {
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // one per port
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve health checks on ", flag, "=", listen,
                     "; is another process using the port?"));
  }
  return server;
}

}  // namespace forgetlab
