// LeaseJob long polls and the lease reaper. A poll that found no job waits
// here until work arrives (a submit, a retry, a released or expired lease)
// or its time is up; a thread of the dispatcher leases jobs for the waiting
// polls, oldest first. A second thread expires overdue leases twice a
// second.
#ifndef FORGETLAB_SERVER_LEASE_DISPATCHER_H_
#define FORGETLAB_SERVER_LEASE_DISPATCHER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "storage/store.h"

namespace forgetlab {

class WatchHub;

// Fills a LeaseJob answer from a lease and tells the sweep's watchers.
void DeliverLease(const storage::Lease& lease, WatchHub* hub,
                  v1::LeaseJobResponse* response);

class LeaseDispatcher {
 public:
  struct Options {
    // Long polls one worker may hold at once, and in all.
    int max_polls_per_worker = 2;
    // Per worker token, so that one token cannot hold every slot.
    int max_polls_per_token = 2000;
    int max_polls = 10000;
    int64_t lease_ms = 60000;
  };

  LeaseDispatcher(Options options, storage::Store* store, WatchHub* hub);
  // Shutdown()s.
  ~LeaseDispatcher();
  LeaseDispatcher(const LeaseDispatcher&) = delete;
  LeaseDispatcher& operator=(const LeaseDispatcher&) = delete;

  void Start();
  // Ends every waiting poll with UNAVAILABLE and stops both threads.
  // Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // A LeaseJob call waiting for work.
  struct Waiter {
    grpc::CallbackServerContext* context;
    std::string worker_id;
    std::string token_name;  // the worker's token ("" without tokens)
    // Device kind and datasets: waiters with equal keys can run the same
    // jobs, so one empty lease attempt answers for all of them.
    std::string capability;
    v1::LeaseJobResponse* response;
    grpc::ServerUnaryReactor* reactor;
    absl::Time deadline;
    // Shared pretraining artifacts the worker has (Store::LeaseJob).
    std::vector<std::string> held;
  };
  // Queues a long poll, or finishes it with RESOURCE_EXHAUSTED when its
  // worker or the server holds too many.
  void AddWaiter(Waiter waiter) ABSL_LOCKS_EXCLUDED(mu_);
  // Wakes the dispatcher: jobs may be available.
  void SignalWork() ABSL_LOCKS_EXCLUDED(mu_);
  // Long polls open (waiting or being dispatched).
  int open_polls() const ABSL_LOCKS_EXCLUDED(mu_);

  // Expires overdue leases now and tells watchers and waiters.
  void ExpireLeases();

 private:
  void DispatchLoop();
  void ReapLoop();
  // Finishes a long poll taken off waiters_.
  void FinishWaiter(const Waiter& waiter, const grpc::Status& status)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  storage::Store* const store_;
  WatchHub* const hub_;
  mutable absl::Mutex mu_;
  std::deque<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  // Long polls open (queued or being dispatched), per worker and in all.
  std::map<std::string, int> polls_ ABSL_GUARDED_BY(mu_);        // per worker
  std::map<std::string, int> token_polls_ ABSL_GUARDED_BY(mu_);  // per token
  int total_polls_ ABSL_GUARDED_BY(mu_) = 0;
  bool work_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread dispatcher_;
  std::thread reaper_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_LEASE_DISPATCHER_H_
