// The forgetlab scheduler: serves forgetlab.v1.ForgetlabService (clients) and
// forgetlab.v1.WorkerService (workers) on gRPC's callback API, with all
// state in a SQLite store.
#ifndef FORGETLAB_SERVER_SCHEDULER_H_
#define FORGETLAB_SERVER_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace forgetlab {

class SchedulerServer {
 public:
  struct Options {
    // host:port; port 0 picks a free one (see port()). Only loopback hosts
    // are accepted until TLS and tokens exist.
    std::string listen = "127.0.0.1:50051";
    // SQLite database file.
    std::string db_path;
    // Lease length; heartbeats extend it by this much.
    int lease_seconds = 60;
    // Largest sweep accepted.
    int max_jobs_per_sweep = 10000;
    // Longest LeaseJob long poll.
    int max_wait_seconds = 60;
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

  // Stops serving: long polls end, watches end, in-flight calls get one
  // second. Idempotent.
  void Shutdown();

  // Blocks until Shutdown() returns.
  void Wait();

  // Processes expired leases now (a background thread also does this twice
  // a second); for tests that move the clock.
  void ExpireLeasesNow();

  class Impl;

 private:
  explicit SchedulerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost" listen addresses ("host:port").
bool IsLoopbackAddress(const std::string& listen);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_SCHEDULER_H_
