// The watch hub's thread and its stream reactors.
#include "server/watch_hub.h"

#include <glog/logging.h>
#include <pthread.h>

#include <utility>

#include "server/convert.h"
#include "server/grpc_status.h"

namespace forgetlab {

// One WatchSweep stream, with at most one write in flight. Owned by the hub
// (and, while it delivers, by the hub's thread) until gRPC calls OnDone.
// Finish and StartWrite are called with no lock held: the decision is made
// under mu_, the call after it.
class WatchHub::Watcher : public grpc::ServerWriteReactor<v1::SweepEvent> {
 public:
  Watcher(WatchHub* hub, std::string sweep_id)
      : hub_(hub), sweep_id_(std::move(sweep_id)) {}

  const std::string& sweep_id() const { return sweep_id_; }

  // Queues `event` (replacing one not yet written); `done`: the sweep is
  // done, and the stream ends once this event is written.
  void Send(const v1::SweepEvent& event, bool done) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      pending_ = event;
      pending_done_ = done;
      has_pending_ = true;
      if (writing_) return;  // OnWriteDone sends it
      StartNextLocked();
    }
    StartWrite(&in_flight_);
  }

  void OnWriteDone(bool ok) override {
    enum { kNothing, kWrite, kFinishOk, kFinishCancelled } next = kNothing;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        next = MarkFinishedLocked() ? kFinishCancelled : kNothing;
      } else if (in_flight_done_) {
        next = MarkFinishedLocked() ? kFinishOk : kNothing;
      } else if (has_pending_ && !finished_) {
        StartNextLocked();
        next = kWrite;
      }
    }
    switch (next) {
      case kWrite:
        StartWrite(&in_flight_);
        break;
      case kFinishOk:
        Finish(grpc::Status::OK);
        break;
      case kFinishCancelled:
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch ended"));
        break;
      case kNothing:
        break;
    }
  }

  void OnCancel() override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      // A write in flight completes with ok = false and finishes there.
      finish = !writing_ && MarkFinishedLocked();
    }
    if (finish) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
    }
  }

  // Last: the hub lets go of this watcher, which may delete it.
  void OnDone() override { hub_->Remove(this); }

 private:
  void StartNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    in_flight_ = std::move(pending_);
    in_flight_done_ = pending_done_;
    has_pending_ = false;
    writing_ = true;
  }
  // True the first time: the caller then finishes the stream.
  bool MarkFinishedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return false;
    finished_ = true;
    return true;
  }

  WatchHub* const hub_;
  const std::string sweep_id_;
  absl::Mutex mu_;
  // Written by gRPC while writing_; only StartNextLocked changes it.
  v1::SweepEvent in_flight_;
  bool in_flight_done_ ABSL_GUARDED_BY(mu_) = false;
  v1::SweepEvent pending_ ABSL_GUARDED_BY(mu_);
  bool pending_done_ ABSL_GUARDED_BY(mu_) = false;
  bool has_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

// A server stream that ends at once with an error.
class FailedWatch : public grpc::ServerWriteReactor<v1::SweepEvent> {
 public:
  explicit FailedWatch(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::SweepEvent>* WatchHub::Refuse(
    const absl::Status& status) {
  return new FailedWatch(status);
}

WatchHub::WatchHub(storage::Store* store) : store_(store) {
  thread_ = std::thread([this] { Loop(); });
}

WatchHub::~WatchHub() { Shutdown(); }

void WatchHub::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

grpc::ServerWriteReactor<v1::SweepEvent>* WatchHub::Watch(
    const std::string& sweep_id) {
  auto watcher = std::make_shared<Watcher>(this, sweep_id);
  {
    absl::MutexLock lock(&mu_);
    if (stop_) {
      return Refuse(absl::UnavailableError("server shutting down"));
    }
    watchers_.emplace(sweep_id, watcher);
  }
  Publish(sweep_id);  // the first event: the current counts
  return watcher.get();
}

void WatchHub::Publish(const std::string& sweep_id,
                       const storage::JobRow* job) {
  absl::MutexLock lock(&mu_);
  if (watchers_.count(sweep_id) == 0) return;  // nobody watches: no event
  Change& change = changed_[sweep_id];
  if (job != nullptr) change.job = *job;
}

void WatchHub::PublishJob(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  // Nobody watching: skip reading the job back (the common case under load).
  if (watchers_.empty()) return;
  changed_jobs_.push_back(job_id);
}

void WatchHub::Remove(Watcher* watcher) {
  std::shared_ptr<Watcher> last;  // may delete the watcher, after the lock
  absl::MutexLock lock(&mu_);
  auto [begin, end] = watchers_.equal_range(watcher->sweep_id());
  for (auto it = begin; it != end; ++it) {
    if (it->second.get() == watcher) {
      last = std::move(it->second);
      watchers_.erase(it);
      return;
    }
  }
}

std::optional<v1::SweepEvent> WatchHub::ReadEvent(const std::string& sweep_id,
                                                  const Change& change,
                                                  bool* done) {
  absl::StatusOr<storage::SweepRow> sweep = store_->GetSweep(sweep_id);
  if (!sweep.ok()) {
    LOG(WARNING) << "watch " << sweep_id << ": " << sweep.status();
    return std::nullopt;
  }
  v1::SweepEvent event;
  SweepToProto(*sweep, event.mutable_status(), /*with_spec=*/false);
  if (change.job.has_value()) {
    JobToProto(*change.job, event.mutable_job());
    event.mutable_job()->clear_spec();
  }
  *done = sweep->done();
  return event;
}

void WatchHub::Loop() {
  pthread_setname_np(pthread_self(), "watch-hub");
  for (;;) {
    std::map<std::string, Change> changed;
    std::vector<int64_t> changed_jobs;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !changed_.empty() || !changed_jobs_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      changed.swap(changed_);
      changed_jobs.swap(changed_jobs_);
    }
    // Reads with no lock held.
    for (int64_t job_id : changed_jobs) {
      absl::StatusOr<storage::JobRow> job = store_->GetJob(job_id);
      if (job.ok()) changed[job->sweep_id].job = *std::move(job);
    }
    for (const auto& [sweep_id, change] : changed) {
      std::vector<std::shared_ptr<Watcher>> watchers;
      {
        absl::MutexLock lock(&mu_);
        auto [begin, end] = watchers_.equal_range(sweep_id);
        for (auto it = begin; it != end; ++it) watchers.push_back(it->second);
      }
      if (watchers.empty()) continue;
      bool done = false;
      std::optional<v1::SweepEvent> event = ReadEvent(sweep_id, change, &done);
      if (!event.has_value()) continue;
      for (const std::shared_ptr<Watcher>& w : watchers) w->Send(*event, done);
    }
  }
}

}  // namespace forgetlab
