// The CLI's connection to the scheduler: the channel, the token sent with
// every call, deadlines, and the one-line message for a failed call.
#ifndef FORGETLAB_CLIENT_CONNECTION_H_
#define FORGETLAB_CLIENT_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"

namespace forgetlab {

inline constexpr char kDefaultScheduler[] = "127.0.0.1:50051";

// Where the scheduler is and how to reach it: the CLI's global options.
struct ConnectionOptions {
  std::string scheduler = kDefaultScheduler;
  std::string token;
  std::string token_file;
  std::string ca_cert;
  std::string client_cert;
  std::string client_key;
  std::string tls_server_name;
};

class Connection {
 public:
  // Reads the token and the TLS files and opens a (lazily connected)
  // channel. Errors name the flag and file that could not be read.
  static absl::StatusOr<Connection> Open(const ConnectionOptions& options);

  v1::ForgetlabService::Stub* stub() { return stub_.get(); }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& address() const { return address_; }

  // A context with a deadline, so an unreachable server fails fast, and the
  // token.
  std::unique_ptr<grpc::ClientContext> Context(int seconds = 15) const;

  // Adds the token to a context made elsewhere.
  void AddToken(grpc::ClientContext* context) const;

  // Prints one line for a failed call (what to check when the scheduler
  // cannot be reached) and returns the exit code, 1.
  int Fail(const grpc::Status& status) const;

 private:
  Connection() = default;

  std::string address_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ForgetlabService::Stub> stub_;
};

// Prints "forgetlab: <message>" for an error the CLI cannot go on from and
// returns `code`.
int PrintError(const absl::Status& status, int code);

// Opens the connection a subcommand needs and runs it; exit code 2 when the
// token or a TLS file cannot be read.
int WithConnection(const ConnectionOptions& options,
                   const std::function<int(Connection&)>& command);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_CONNECTION_H_
