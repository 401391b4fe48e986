// Client side of the connection, shared by the CLI and the worker: a channel
// with or without TLS, and the bearer token sent with every call.
#ifndef FORGETLAB_PROTO_NET_CHANNEL_H_
#define FORGETLAB_PROTO_NET_CHANNEL_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace forgetlab {

struct ChannelOptions {
  // host:port of the scheduler.
  std::string address;
  // PEM CA bundle that signed the server's certificate. Set: TLS. Empty:
  // plaintext, which a TLS server refuses.
  std::string ca_cert_file;
  // PEM client certificate and key, for servers started with --client_ca.
  std::string client_cert_file;
  std::string client_key_file;
  // Name to expect in the server's certificate when it differs from the
  // host in `address` (e.g. connecting through an IP address).
  std::string tls_server_name;
  // Give this channel its own connection instead of sharing one with other
  // channels to the same address (as a separate machine would have).
  bool own_connection = false;
};

// Reads the whole file a flag names; NOT_FOUND names the flag and the path.
absl::StatusOr<std::string> ReadFlagFile(const std::string& flag,
                                         const std::string& path);

// Opens a channel (lazily connected). Errors name the flag and file that
// could not be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(
    const ChannelOptions& options);

// The token to send: `flag_value` if set, else the first line of
// `token_file` if set, else $FORGETLAB_TOKEN, else "" (no token).
absl::StatusOr<std::string> ResolveToken(const std::string& flag_value,
                                         const std::string& token_file);

// Adds "authorization: Bearer <token>" to a call when `token` is not empty.
void AttachToken(const std::string& token, grpc::ClientContext* context);

}  // namespace forgetlab

#endif  // FORGETLAB_PROTO_NET_CHANNEL_H_
