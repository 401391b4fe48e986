// The forgetlab scheduler: serves forgetlab.v1.ForgetlabService (clients,
// client_service.h) and forgetlab.v1.WorkerService (workers,
// worker_service.h) on gRPC's callback API, with all state in a SQLite store
// (storage/store.h). This class wires them together with the long-poll
// dispatcher, the watch hub, metrics and health, and starts and stops them.
#ifndef FORGETLAB_SERVER_SCHEDULER_H_
#define FORGETLAB_SERVER_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace forgetlab {

class SchedulerServer {
 public:
  struct Options {
    // host:port; port 0 picks a free one (see port()). A host other than
    // loopback needs TLS and a tokens file, or allow_insecure.
    std::string listen = "127.0.0.1:50051";
    // PEM server certificate and key; both or neither. With them the server
    // speaks only TLS.
    std::string tls_cert_file;
    std::string tls_key_file;
    // PEM CA bundle; when set, clients must present a certificate it signed.
    std::string client_ca_file;
    // Tokens file (see auth.h). When set, every call but the health check
    // needs "authorization: Bearer <token>" and is limited to its role.
    std::string tokens_file;
    // Serve a non-loopback address without TLS or tokens. Never on a shared
    // network.
    bool allow_insecure = false;
    // Folders that experiment data paths must lie in; empty accepts any
    // absolute path.
    std::vector<std::string> data_roots;
    // Largest request message accepted, in bytes.
    int max_message_bytes = 4 << 20;
    // LeaseJob long polls one worker may hold at once, and in all.
    int max_polls_per_worker = 2;
    int max_polls_per_token = 2000;
    int max_polls = 10000;
    // Workers one token may have registered (those silent for an hour are
    // forgotten first).
    int max_workers_per_token = 2000;
    // Per owner (token name): jobs queued at once, sweeps submitted in an
    // hour, bytes of sweep and job specs stored. 0 turns one off.
    int64_t max_queued_jobs = 100000;
    int max_sweeps_per_hour = 100;
    int64_t max_stored_bytes = int64_t{1} << 30;
    // SQLite database file.
    std::string db_path;
    // Shared pretraining artifacts: their folder ("" : db_path + "-artifacts"),
    // the largest one accepted, and all of them together (beyond it, the
    // least recently used that no live job needs are evicted).
    std::string artifact_dir;
    int64_t artifact_max_bytes = int64_t{1} << 30;
    int64_t artifact_quota_bytes = int64_t{20} << 30;
    // SQLite synchronous=FULL instead of NORMAL (storage::Store::Options).
    bool synchronous_full = false;
    // Lease length; heartbeats extend it by this much.
    int lease_seconds = 60;
    // Largest sweep accepted.
    int max_jobs_per_sweep = 10000;
    // Longest LeaseJob long poll.
    int max_wait_seconds = 60;
    // host:port for Prometheus metrics over HTTP at /metrics; empty: none.
    // Port 0 picks a free one (see metrics_port()).
    std::string metrics_listen;
    // host:port for a plaintext gRPC health service alone, for Kubernetes'
    // gRPC probes (which speak neither TLS nor tokens); empty: none. The
    // main port serves health too.
    std::string health_listen;
    // Wall clock in Unix milliseconds, intended for testing; default: the
    // system clock.
    std::function<int64_t()> now_ms;
  };

  // Opens the database, restores state (every lease gets at least one lease
  // period of grace) and starts serving.
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Start(
      Options options);
  ~SchedulerServer();

  // The port actually bound.
  int port() const;
  // The metrics port actually bound; 0 without metrics_listen.
  int metrics_port() const;

  // Stops serving: long polls end, watches end, in-flight calls get one
  // second. Idempotent.
  void Shutdown();

  // Blocks until Shutdown() returns.
  void Wait();

  // Processes expired leases now (a background thread also does this twice
  // a second); for tests that move the clock.
  void ExpireLeasesNow();

  // LeaseJob long polls waiting for work now; for tests that need a poll to
  // be waiting.
  int open_long_polls() const;

  class Impl;

 private:
  explicit SchedulerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_SCHEDULER_H_
