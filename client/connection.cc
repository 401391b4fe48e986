// The CLI's channel, token and call failures.
#include "client/connection.h"

#include <chrono>
#include <cstdio>

#include "proto/net/channel.h"

namespace forgetlab {

absl::StatusOr<Connection> Connection::Open(const ConnectionOptions& options) {
  absl::StatusOr<std::string> token =
      ResolveToken(options.token, options.token_file);
  if (!token.ok()) return token.status();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      OpenChannel({options.scheduler, options.ca_cert, options.client_cert,
                   options.client_key, options.tls_server_name});
  if (!channel.ok()) return channel.status();
  Connection c;
  c.address_ = options.scheduler;
  c.token_ = *std::move(token);
  c.channel_ = *std::move(channel);
  c.stub_ = v1::ForgetlabService::NewStub(c.channel_);
  return c;
}

std::unique_ptr<grpc::ClientContext> Connection::Context(int seconds) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(seconds));
  AddToken(ctx.get());
  return ctx;
}

void Connection::AddToken(grpc::ClientContext* context) const {
  AttachToken(token_, context);
}

int Connection::Fail(const grpc::Status& s) const {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::fprintf(stderr,
                 "forgetlab: cannot reach the scheduler at %s (%s); is "
                 "forgetlab-server running? Set --scheduler or "
                 "FORGETLAB_SCHEDULER; for a TLS server pass --ca_cert "
                 "(and --client_cert/--client_key if it asks for them).\n",
                 address_.c_str(), s.error_message().c_str());
  } else {
    std::fprintf(stderr, "forgetlab: %s\n", s.error_message().c_str());
  }
  return 1;
}

int PrintError(const absl::Status& status, int code) {
  std::fprintf(stderr, "forgetlab: %s\n",
               std::string(status.message()).c_str());
  return code;
}

int WithConnection(const ConnectionOptions& options,
                   const std::function<int(Connection&)>& command) {
  absl::StatusOr<Connection> connection = Connection::Open(options);
  if (!connection.ok()) return PrintError(connection.status(), 2);
  return command(*connection);
}

}  // namespace forgetlab
