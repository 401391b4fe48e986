// forgetlab-server: the scheduler. Parses flags, starts, waits for SIGINT or
// SIGTERM, shuts down. `forgetlab-server tokens add` makes a token.
#include <glog/logging.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "server/auth.h"
#include "server/scheduler.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve on; port 0 picks a free port. A non-loopback "
          "host needs --tls_cert, --tls_key and --tokens_file.");
ABSL_FLAG(std::string, db, "forgetlab.db", "SQLite database file");
ABSL_FLAG(int, lease_seconds, 60,
          "lease length; a worker silent this long loses its job");
ABSL_FLAG(int, max_jobs_per_sweep, 10000, "largest sweep accepted");
ABSL_FLAG(std::string, port_file, "",
          "if set, the bound port is written here once serving");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (chain)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, client_ca, "",
          "PEM CA bundle; when set, clients and workers must present a "
          "certificate it signed (mutual TLS)");
ABSL_FLAG(std::string, tokens_file, "",
          "file of token hashes and roles ('forgetlab-server tokens add' "
          "appends to it); when set, every call needs a token");
ABSL_FLAG(bool, allow_insecure, false,
          "serve a non-loopback --listen without TLS or tokens (never on a "
          "shared network)");
ABSL_FLAG(std::vector<std::string>, data_roots, {"/usr/share/datasets"},
          "folders experiment data paths must lie in, comma-separated; empty "
          "accepts any absolute path");
ABSL_FLAG(int, max_message_bytes, 4 << 20, "largest request accepted, bytes");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus metrics on, over plain HTTP at "
          "/metrics (e.g. 127.0.0.1:9090); empty: no metrics");
ABSL_FLAG(std::string, health_listen, "",
          "host:port for a plaintext gRPC health service alone (for "
          "Kubernetes probes, which cannot do TLS); empty: none");
ABSL_FLAG(std::string, role, "", "tokens add: worker, client or admin");
ABSL_FLAG(std::string, name, "",
          "tokens add: who the token is for (owner name of its sweeps)");

namespace {

constexpr char kUsage[] =
    "forgetlab scheduler.\n"
    "  forgetlab-server --listen=127.0.0.1:50051 --db=forgetlab.db\n"
    "      [--tls_cert=PEM --tls_key=PEM [--client_ca=PEM]] "
    "[--tokens_file=FILE]\n"
    "  forgetlab-server tokens add --role=worker|client|admin --name=NAME "
    "--tokens_file=FILE\n";

// `tokens add`: the token goes to stdout (last line) and only its hash to
// the file.
int AddTokenCommand() {
  const std::string file = absl::GetFlag(FLAGS_tokens_file);
  const std::string role_name = absl::GetFlag(FLAGS_role);
  if (file.empty()) {
    std::fprintf(stderr,
                 "forgetlab-server tokens add: --tokens_file=FILE "
                 "is required\n");
    return 2;
  }
  std::optional<forgetlab::Role> role = forgetlab::ParseRole(role_name);
  if (!role.has_value()) {
    std::fprintf(stderr,
                 "forgetlab-server tokens add: --role must be worker, client "
                 "or admin (got '%s')\n",
                 role_name.c_str());
    return 2;
  }
  absl::StatusOr<std::string> token =
      forgetlab::AddToken(file, *role, absl::GetFlag(FLAGS_name));
  if (!token.ok()) {
    std::fprintf(stderr, "forgetlab-server tokens add: %s\n",
                 std::string(token.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr,
               "added %s token '%s' to %s; the token is shown once, below. "
               "Restart the server to load it.\n",
               role_name.c_str(), absl::GetFlag(FLAGS_name).c_str(),
               file.c_str());
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() == 3 && std::string(args[1]) == "tokens" &&
      std::string(args[2]) == "add") {
    return AddTokenCommand();
  }
  if (args.size() > 1) {
    std::fprintf(stderr, "forgetlab-server: unknown command '%s'\n%s", args[1],
                 kUsage);
    return 2;
  }
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  // Debian's Abseil checks every lock order at run time; our lock order is
  // fixed (scheduler, then store) and the check costs on every RPC.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Block the stop signals in every thread; main collects them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  forgetlab::SchedulerServer::Options options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.lease_seconds = absl::GetFlag(FLAGS_lease_seconds);
  options.max_jobs_per_sweep = absl::GetFlag(FLAGS_max_jobs_per_sweep);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.client_ca_file = absl::GetFlag(FLAGS_client_ca);
  options.tokens_file = absl::GetFlag(FLAGS_tokens_file);
  options.allow_insecure = absl::GetFlag(FLAGS_allow_insecure);
  options.data_roots = absl::GetFlag(FLAGS_data_roots);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  auto server = forgetlab::SchedulerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "forgetlab-server: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  LOG(INFO) << "forgetlab-server listening on port " << (*server)->port()
            << (options.tls_cert_file.empty() ? " (plaintext)" : " (TLS)")
            << (options.tokens_file.empty() ? ", no tokens" : ", tokens from ")
            << options.tokens_file << ", database " << options.db_path;
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    // Written whole then renamed, so a reader never sees a partial number.
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  LOG(INFO) << "signal " << signal_number << ": shutting down";
  (*server)->Shutdown();
  LOG(INFO) << "stopped";
  return 0;
}
