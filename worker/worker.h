// The worker's pull loops: one per slot, each registering, long-polling for
// a lease, training with heartbeats and uploading the result, riding out
// scheduler restarts with backoff.
#ifndef FORGETLAB_WORKER_WORKER_H_
#define FORGETLAB_WORKER_WORKER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace forgetlab {

class Worker {
 public:
  struct Options {
    std::string scheduler = "127.0.0.1:50051";
    // TLS: the CA that signed the server's certificate (empty: plaintext),
    // and a client certificate and key for servers that require one.
    std::string ca_cert_file;
    std::string client_cert_file;
    std::string client_key_file;
    std::string tls_server_name;
    // Bearer token of role worker (or admin), for servers with tokens.
    std::string token;
    // Folders a job's data path must resolve into (symbolic links
    // followed); empty accepts any path.
    std::vector<std::string> data_roots;
    std::string device = "cpu";
    // Jobs at once: "auto" or a count (core_budget.h has the rule). Each
    // slot registers, leases, heartbeats and reports on its own.
    std::string slots = "1";
    // Intra-op threads of each job; 0: LibTorch's default with one slot,
    // else picked with the slots (PlanSlots).
    int threads = 0;
    std::string host;  // reported name; default: the machine's host name
    // Datasets offered to the scheduler; empty: "synthetic", plus
    // "fashion_mnist" when its Debian folder is present.
    std::vector<std::string> datasets;
    // Long-poll length of each LeaseJob call.
    int wait_seconds = 30;
    // Backoff bounds while the scheduler is unreachable.
    absl::Duration min_backoff = absl::Milliseconds(200);
    absl::Duration max_backoff = absl::Seconds(5);
    // Exit after this many jobs, over all slots (0: run until stopped); for
    // tests.
    int max_jobs = 0;
    // When set, pretrained bodies are kept here and reused by later jobs
    // with the same model, data, pretraining spec and seed.
    std::string checkpoint_dir;
    // Shared pretraining: where downloaded and uploaded artifacts are kept
    // ("": $XDG_CACHE_HOME or ~/.cache, then forgetlab/artifacts), and how
    // many bytes they may take there.
    std::string artifact_cache_dir;
    int64_t artifact_cache_bytes = int64_t{10} << 30;
    // Upload bandwidth cap for artifacts, bytes per second (0: none).
    int64_t artifact_upload_bytes_per_second = 0;
    // host:port for Prometheus metrics over HTTP at /metrics; empty: none.
    std::string metrics_listen;
    // host:port for the gRPC health service (plaintext, for Kubernetes
    // probes); empty: none. Service "" is SERVING while the worker loop is
    // making progress (it goes NOT_SERVING after kStallMinutes without
    // any); "forgetlab.worker" is SERVING while the scheduler answers.
    std::string health_listen;
  };

  static constexpr int kStallMinutes = 10;

  explicit Worker(Options options);
  ~Worker();

  // Runs until Stop() (or max_jobs). A job in progress is abandoned
  // promptly on Stop() and its lease given back. Returns OK after a clean
  // stop; an error only for a permanent failure (e.g. a bad device).
  absl::Status Run();

  // Thread-safe; may be called from a signal-watching thread.
  void Stop();

  // Ports bound for metrics and health once Run() has started them; 0 when
  // not configured.
  int metrics_port() const;
  int health_port() const;

  // Calls to the scheduler that failed and were retried after a backoff
  // (it was unreachable or overloaded). Thread-safe.
  int64_t scheduler_failures() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_WORKER_H_
