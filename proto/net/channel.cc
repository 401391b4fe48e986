// Channels with TLS and bearer tokens.
#include "proto/net/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace forgetlab {

absl::StatusOr<std::string> ReadFlagFile(const std::string& flag,
                                         const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("--", flag, ": cannot read ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(
    const ChannelOptions& options) {
  grpc::ChannelArguments args;
  // Tables and job lists can be large; requests stay small.
  args.SetMaxReceiveMessageSize(64 << 20);
  if (options.own_connection) args.SetInt("grpc.use_local_subchannel_pool", 1);
  if (options.ca_cert_file.empty()) {
    if (!options.client_cert_file.empty() || !options.client_key_file.empty()) {
      return absl::InvalidArgumentError(
          "--client_cert and --client_key need TLS: pass --ca_cert as well");
    }
    return grpc::CreateCustomChannel(options.address,
                                     grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca =
      ReadFlagFile("ca_cert", options.ca_cert_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (options.client_cert_file.empty() != options.client_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--client_cert and --client_key go together: pass both, or neither");
  }
  if (!options.client_cert_file.empty()) {
    absl::StatusOr<std::string> cert =
        ReadFlagFile("client_cert", options.client_cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key =
        ReadFlagFile("client_key", options.client_key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return grpc::CreateCustomChannel(options.address, grpc::SslCredentials(ssl),
                                   args);
}

absl::StatusOr<std::string> ResolveToken(const std::string& flag_value,
                                         const std::string& token_file) {
  if (!flag_value.empty()) return flag_value;
  if (!token_file.empty()) {
    absl::StatusOr<std::string> text = ReadFlagFile("token_file", token_file);
    if (!text.ok()) return text.status();
    std::string token(absl::StripAsciiWhitespace(
        absl::string_view(*text).substr(0, text->find('\n'))));
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file: ", token_file, " is empty"));
    }
    return token;
  }
  const char* env = std::getenv("FORGETLAB_TOKEN");
  return std::string(env != nullptr ? env : "");
}

void AttachToken(const std::string& token, grpc::ClientContext* context) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace forgetlab
