// The long-poll dispatcher and the lease reaper.
#include "server/lease_dispatcher.h"

#include <glog/logging.h>
#include <pthread.h>

#include <optional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/convert.h"
#include "server/grpc_status.h"
#include "server/watch_hub.h"

namespace forgetlab {

void DeliverLease(const storage::Lease& lease, WatchHub* hub,
                  v1::LeaseJobResponse* response) {
  JobToProto(lease.job, response->mutable_job());
  response->set_lease_token(lease.key);
  response->set_deadline_ms(lease.deadline_ms);
  response->set_upload_pretraining(lease.upload_pretraining);
  hub->Publish(lease.job.sweep_id, &lease.job);
}

LeaseDispatcher::LeaseDispatcher(Options options, storage::Store* store,
                                 WatchHub* hub)
    : options_(options), store_(store), hub_(hub) {}

LeaseDispatcher::~LeaseDispatcher() { Shutdown(); }

void LeaseDispatcher::Start() {
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  reaper_ = std::thread([this] { ReapLoop(); });
}

void LeaseDispatcher::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  if (reaper_.joinable()) reaper_.join();
  // Polls that arrived after the dispatcher left.
  std::deque<Waiter> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(waiters_);
    polls_.clear();
    token_polls_.clear();
    total_polls_ = 0;
  }
  for (const Waiter& w : left) {
    w.reactor->Finish(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
  }
}

void LeaseDispatcher::AddWaiter(Waiter waiter) {
  std::optional<grpc::Status> refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused =
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down");
    } else {
      int& mine = polls_[waiter.worker_id];
      int& token = token_polls_[waiter.token_name];
      if (mine >= options_.max_polls_per_worker ||
          token >= options_.max_polls_per_token ||
          total_polls_ >= options_.max_polls) {
        if (mine == 0) polls_.erase(waiter.worker_id);
        if (token == 0) token_polls_.erase(waiter.token_name);
        refused = grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("too many LeaseJob long polls open (at most ",
                         options_.max_polls_per_worker, " per worker, ",
                         options_.max_polls_per_token, " per token and ",
                         options_.max_polls, " in all); retry later"));
      } else {
        ++mine;
        ++token;
        ++total_polls_;
        waiters_.push_back(std::move(waiter));
        work_ = true;  // a job may have arrived between the first try and now
      }
    }
  }
  if (refused.has_value()) waiter.reactor->Finish(*refused);
}

void LeaseDispatcher::SignalWork() {
  absl::MutexLock lock(&mu_);
  work_ = true;
}

int LeaseDispatcher::open_polls() const {
  absl::MutexLock lock(&mu_);
  return total_polls_;
}

void LeaseDispatcher::FinishWaiter(const Waiter& waiter,
                                   const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    auto it = polls_.find(waiter.worker_id);
    if (it != polls_.end() && --it->second <= 0) polls_.erase(it);
    auto token = token_polls_.find(waiter.token_name);
    if (token != token_polls_.end() && --token->second <= 0) {
      token_polls_.erase(token);
    }
    --total_polls_;
  }
  waiter.reactor->Finish(status);
}

void LeaseDispatcher::DispatchLoop() {
  pthread_setname_np(pthread_self(), "lease-dispatch");
  for (;;) {
    std::deque<Waiter> pending;
    bool work = false;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return work_ || stopping_;
      };
      // Wake for work at once; otherwise every 100 ms to time out polls and
      // notice cancelled calls.
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100));
      if (stopping_) return;  // Shutdown() finishes the waiters
      work = work_;
      work_ = false;
      pending.swap(waiters_);
    }
    std::deque<Waiter> keep;
    const absl::Time now = absl::Now();
    std::set<std::string> nothing_for;  // capabilities with no job left
    for (Waiter& w : pending) {
      if (w.context->IsCancelled()) {
        FinishWaiter(w, grpc::Status(grpc::StatusCode::CANCELLED,
                                     "lease request cancelled"));
        continue;
      }
      if (work && nothing_for.count(w.capability) == 0) {
        absl::StatusOr<std::optional<storage::Lease>> lease =
            store_->LeaseJob(w.worker_id, options_.lease_ms, w.held);
        if (!lease.ok()) {
          FinishWaiter(w, ToGrpcStatus(lease.status()));
          continue;
        }
        if (lease->has_value()) {
          DeliverLease(**lease, hub_, w.response);
          FinishWaiter(w, grpc::Status::OK);
          continue;
        }
        nothing_for.insert(w.capability);  // the same for its kind
      }
      if (now >= w.deadline) {
        FinishWaiter(w, grpc::Status::OK);  // no job this time
        continue;
      }
      keep.push_back(std::move(w));
    }
    absl::MutexLock lock(&mu_);
    // Older waiters first, then any that arrived meanwhile.
    for (auto it = keep.rbegin(); it != keep.rend(); ++it) {
      waiters_.push_front(std::move(*it));
    }
  }
}

void LeaseDispatcher::ExpireLeases() {
  absl::StatusOr<std::vector<std::string>> changed = store_->ExpireLeases();
  if (!changed.ok()) {
    LOG(ERROR) << "expiring leases: " << changed.status();
    return;
  }
  if (changed->empty()) return;
  LOG(INFO) << "expired " << changed->size() << " lease(s)";
  for (const std::string& sweep :
       std::set<std::string>(changed->begin(), changed->end())) {
    hub_->Publish(sweep);
  }
  SignalWork();
}

void LeaseDispatcher::ReapLoop() {
  pthread_setname_np(pthread_self(), "lease-reaper");
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_;
      };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping),
                               absl::Milliseconds(500))) {
        return;
      }
    }
    ExpireLeases();
  }
}

}  // namespace forgetlab
