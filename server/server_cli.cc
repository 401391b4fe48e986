// forgetlab-server's flags, options and tokens command.
#include "server/server_cli.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <vector>

#include "absl/flags/flag.h"
#include "server/auth.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve on; port 0 picks a free port. A non-loopback "
          "host needs --tls_cert, --tls_key and --tokens_file.");
ABSL_FLAG(std::string, db, "forgetlab.db",
          "SQLite database file (kept mode 0600, with its -wal and -shm)");
ABSL_FLAG(std::string, synchronous, "normal",
          "SQLite synchronous setting: normal (a power loss may drop the last "
          "acknowledged writes; never corrupts) or full (loses nothing "
          "acknowledged; slower, see docs/SECURITY.md)");
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
ABSL_FLAG(int64_t, max_queued_jobs, 100000,
          "quota: jobs one owner (token) may have queued at once; 0: none");
ABSL_FLAG(int, max_sweeps_per_hour, 100,
          "quota: sweeps one owner may submit in an hour; 0: none");
ABSL_FLAG(int64_t, max_stored_bytes, int64_t{1} << 30,
          "quota: bytes of sweep and job specs one owner may store; 0: none");
ABSL_FLAG(std::string, artifact_dir, "",
          "folder of the shared pretraining artifacts; default: the --db "
          "path with -artifacts appended");
ABSL_FLAG(int64_t, artifact_max_bytes, int64_t{1} << 30,
          "largest shared pretraining artifact accepted, bytes");
ABSL_FLAG(int64_t, artifact_quota_bytes, int64_t{20} << 30,
          "bytes all artifacts may take; beyond it the least recently used "
          "that no queued job needs are evicted");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus metrics on, over plain HTTP at "
          "/metrics (e.g. 127.0.0.1:9090); empty: no metrics");
ABSL_FLAG(std::string, health_listen, "",
          "host:port for a plaintext gRPC health service alone (for "
          "Kubernetes probes, which cannot do TLS); empty: none");
ABSL_FLAG(std::string, role, "", "tokens add: worker, client or admin");
ABSL_FLAG(std::string, name, "",
          "tokens add: who the token is for (owner name of its sweeps)");

namespace forgetlab {

SchedulerServer::Options ServerOptionsFromFlags() {
  SchedulerServer::Options options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  const std::string synchronous = absl::GetFlag(FLAGS_synchronous);
  if (synchronous != "normal" && synchronous != "full") {
    std::fprintf(stderr,
                 "forgetlab-server: --synchronous=%s: use normal or full\n",
                 synchronous.c_str());
    std::exit(2);
  }
  options.synchronous_full = synchronous == "full";
  options.lease_seconds = absl::GetFlag(FLAGS_lease_seconds);
  options.max_jobs_per_sweep = absl::GetFlag(FLAGS_max_jobs_per_sweep);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.client_ca_file = absl::GetFlag(FLAGS_client_ca);
  options.tokens_file = absl::GetFlag(FLAGS_tokens_file);
  options.allow_insecure = absl::GetFlag(FLAGS_allow_insecure);
  options.data_roots = absl::GetFlag(FLAGS_data_roots);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_queued_jobs = absl::GetFlag(FLAGS_max_queued_jobs);
  options.max_sweeps_per_hour = absl::GetFlag(FLAGS_max_sweeps_per_hour);
  options.max_stored_bytes = absl::GetFlag(FLAGS_max_stored_bytes);
  options.artifact_dir = absl::GetFlag(FLAGS_artifact_dir);
  options.artifact_max_bytes = absl::GetFlag(FLAGS_artifact_max_bytes);
  options.artifact_quota_bytes = absl::GetFlag(FLAGS_artifact_quota_bytes);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  return options;
}

// `tokens add`: the token goes to stdout (last line) and only its hash to
// the file.
int RunTokensAdd() {
  const std::string file = absl::GetFlag(FLAGS_tokens_file);
  const std::string role_name = absl::GetFlag(FLAGS_role);
  if (file.empty()) {
    std::fprintf(stderr,
                 "forgetlab-server tokens add: --tokens_file=FILE "
                 "is required\n");
    return 2;
  }
  std::optional<Role> role = ParseRole(role_name);
  if (!role.has_value()) {
    std::fprintf(stderr,
                 "forgetlab-server tokens add: --role must be worker, client "
                 "or admin (got '%s')\n",
                 role_name.c_str());
    return 2;
  }
  absl::StatusOr<std::string> token =
      AddToken(file, *role, absl::GetFlag(FLAGS_name));
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

void WritePortFile(int port) {
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (port_file.empty()) return;
  // Written whole then renamed, so a reader never sees a partial number.
  const std::string tmp = port_file + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), port_file.c_str());
}

}  // namespace forgetlab
