// WatchSweep streams: every change to a sweep reaches its watchers as a
// SweepEvent, coalesced while a write is in flight.
//
// Publishing is cheap and touches no database: it marks the sweep changed.
// The hub's own thread reads the sweep's counts (and the changed job) from
// the store with no lock held, and hands the event to each watcher, which
// writes it when its previous write is done. So neither a gRPC reaction nor
// a caller of Publish ever waits on SQLite.
#ifndef FORGETLAB_SERVER_WATCH_HUB_H_
#define FORGETLAB_SERVER_WATCH_HUB_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "storage/store.h"

namespace forgetlab {

class WatchHub {
 public:
  // Starts the hub's thread.
  explicit WatchHub(storage::Store* store);
  // Shutdown()s. REQUIRES: every stream is done (the gRPC server has shut
  // down), since their reactors call back into the hub.
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // A stream of `sweep_id`'s events, starting with its current counts and
  // ending (OK) after the event that shows the sweep done.
  grpc::ServerWriteReactor<v1::SweepEvent>* Watch(const std::string& sweep_id);

  // A stream that ends at once with `status` (not OK), for a watch refused
  // before it starts.
  static grpc::ServerWriteReactor<v1::SweepEvent>* Refuse(
      const absl::Status& status);

  // The sweep changed; `job`, when given, is the job that changed.
  void Publish(const std::string& sweep_id,
               const storage::JobRow* job = nullptr) ABSL_LOCKS_EXCLUDED(mu_);
  // Job `job_id` changed; the hub reads which sweep it belongs to, and only
  // when anyone watches.
  void PublishJob(int64_t job_id) ABSL_LOCKS_EXCLUDED(mu_);

  // Stops the thread; later changes are not sent. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Watcher;
  // What changed in a sweep since its last event.
  struct Change {
    std::optional<storage::JobRow> job;  // the newest changed job
  };

  void Remove(Watcher* watcher) ABSL_LOCKS_EXCLUDED(mu_);
  // Reads the changed sweeps and hands their events to the watchers.
  void Loop();
  // The event for a change, read from the store; nullopt when the sweep
  // cannot be read (it is tried again with its next change).
  std::optional<v1::SweepEvent> ReadEvent(const std::string& sweep_id,
                                          const Change& change, bool* done);

  storage::Store* const store_;
  absl::Mutex mu_;
  std::multimap<std::string, std::shared_ptr<Watcher>> watchers_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, Change> changed_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> changed_jobs_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_WATCH_HUB_H_
