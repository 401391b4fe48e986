// Scheduler service implementation: unary handlers on the default reactor,
// LeaseJob long polls answered by a dispatcher thread, WatchSweep streams
// with one write in flight, and a lease reaper.
#include "server/scheduler.h"

#include <glog/logging.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/server_interceptor.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "proto/health.h"
#include "proto/metrics.h"
#include "proto/spec.h"
#include "server/auth.h"
#include "server/convert.h"
#include "server/grpc_status.h"
#include "server/table.h"
#include "storage/store.h"

namespace forgetlab {

namespace {

constexpr size_t kMaxNameLength = 256;
constexpr size_t kMaxErrorLength = 4096;
constexpr int kMaxPageSize = 10000;

grpc::Status InvalidArgument(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// The method label of a call: "/forgetlab.v1.WorkerService/LeaseJob" is
// "LeaseJob". Names this server does not serve are "other", so callers
// cannot create series at will.
std::string MethodLabel(const char* path) {
  std::string name = path == nullptr ? "" : path;
  if (name.size() < 2 || name[0] != '/') return "other";
  name = name.substr(1);
  std::replace(name.begin(), name.end(), '/', '.');
  if (name == "grpc.health.v1.Health.Check") return "Health.Check";
  if (name == "grpc.health.v1.Health.Watch") return "Health.Watch";
  const google::protobuf::MethodDescriptor* method =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          name);
  return method == nullptr ? "other" : method->name();
}

// Counts every call and times it, from its start to its status.
class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(std::string method, metrics::Registry* registry)
      : method_(std::move(method)), registry_(registry), start_(absl::Now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      registry_
          ->GetCounter(
              "forgetlab_rpc_requests_total",
              "RPCs answered, by method and status code.",
              {{"method", method_}, {"code", CodeName(status.error_code())}})
          ->Add();
      registry_
          ->GetHistogram("forgetlab_rpc_duration_seconds",
                         "RPC latency from arrival to status, by method "
                         "(LeaseJob includes its long poll).",
                         {{"method", method_}}, metrics::LatencyBuckets())
          ->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  metrics::Registry* const registry_;
  const absl::Time start_;
};

class RpcMetricsFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsFactory(metrics::Registry* registry)
      : registry_(registry) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(MethodLabel(info->method()), registry_);
  }

 private:
  metrics::Registry* const registry_;
};

}  // namespace

bool IsLoopbackAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host =
      colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

class SchedulerServer::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {}
  ~Impl() { Shutdown(); }

  absl::Status Start();
  void Shutdown();
  void Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&shut_down_));
  }
  int port() const { return port_; }
  storage::Store* store() { return store_.get(); }
  int64_t lease_ms() const { return int64_t{options_.lease_seconds} * 1000; }
  int64_t Now() const { return options_.now_ms(); }
  const Options& options() const { return options_; }

  // What a call needs: the worker calls, reading, or submitting (cancel and
  // retry are submitting plus CheckOwner).
  enum class Access { kWorker, kRead, kSubmit };
  // Sets *who from the call's bearer token and checks its role. Without a
  // tokens file every caller is an anonymous admin.
  grpc::Status Authorize(grpc::CallbackServerContext* context, Access access,
                         Principal* who) const;
  // PERMISSION_DENIED unless `who` is an admin or owns the sweep.
  grpc::Status CheckOwner(const Principal& who, const std::string& sweep_id);

  // Runs a unary call whose answer comes later: authorizes it, then calls
  // `start(who, finish)`; `finish(status)` ends the call, from any thread.
  template <typename Start>
  grpc::ServerUnaryReactor* UnaryAsync(grpc::CallbackServerContext* context,
                                       Access access, Start start) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Principal who;
    grpc::Status status = Authorize(context, access, &who);
    if (!status.ok()) {
      reactor->Finish(status);
    } else {
      start(who, [reactor](const grpc::Status& s) { reactor->Finish(s); });
    }
    return reactor;
  }

  // Runs a unary call: authorizes it, then finishes it with `body(who)`.
  template <typename Body>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  Access access, Body body) {
    return UnaryAsync(context, access,
                      [&body](const Principal& who, const auto& finish) {
                        finish(body(who));
                      });
  }

  // A LeaseJob call waiting for work.
  struct Waiter {
    grpc::CallbackServerContext* context;
    std::string worker_id;
    // Device kind and datasets: waiters with equal keys can run the same
    // jobs, so one empty lease attempt answers for all of them.
    std::string capability;
    v1::LeaseJobResponse* response;
    grpc::ServerUnaryReactor* reactor;
    absl::Time deadline;
  };
  // Queues a long poll, or finishes it with RESOURCE_EXHAUSTED when its
  // worker or the server holds too many.
  void AddWaiter(Waiter waiter);
  // Wakes the dispatcher: jobs may be available.
  void SignalWork();
  // Fills `response` from a lease and tells watchers.
  void DeliverLease(const storage::Lease& lease,
                    v1::LeaseJobResponse* response);

  class WatchReactor;
  void AddWatcher(WatchReactor* watcher);
  void RemoveWatcher(WatchReactor* watcher);
  bool HasWatchers() {
    absl::MutexLock lock(&mu_);
    return !watchers_.empty();
  }
  // Tells the sweep's watchers that it changed (`job`, if given, changed).
  void Publish(const std::string& sweep_id, const storage::JobRow* job);

  void ExpireLeases();

  // Counts a stored result (forgetlab_results_total and the per-second
  // rate).
  void RecordResult();
  int metrics_port() const {
    return metrics_server_ == nullptr ? 0 : metrics_server_->port();
  }

 private:
  class ClientService;
  class WorkerServiceImpl;

  void DispatchLoop();
  void ReapLoop();
  // Registers the scrape-time series and serves /metrics.
  absl::Status StartMetrics();
  // Finishes a long poll taken off waiters_.
  void FinishWaiter(const Waiter& waiter, const grpc::Status& status);

  const Options options_;
  std::optional<TokenSet> tokens_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<ClientService> client_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  metrics::Registry metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  // The plaintext health port: "" and both services SERVING until shutdown.
  HealthService health_{
      [this](const std::string& service) -> std::optional<bool> {
        if (!service.empty() && service != "forgetlab.v1.ForgetlabService" &&
            service != "forgetlab.v1.WorkerService") {
          return std::nullopt;
        }
        absl::MutexLock lock(&mu_);
        return !stopping_;
      }};
  std::unique_ptr<grpc::Server> health_server_;
  metrics::Counter* results_total_ = nullptr;
  // Results per whole second over the last minute: (second, count) slots.
  absl::Mutex rate_mu_;
  std::array<std::pair<int64_t, int64_t>, 60> results_per_second_
      ABSL_GUARDED_BY(rate_mu_) = {};
  std::thread dispatcher_;
  std::thread reaper_;

  absl::Mutex mu_;
  std::deque<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  // Long polls open (queued or being dispatched), per worker and in all.
  std::map<std::string, int> polls_ ABSL_GUARDED_BY(mu_);
  int total_polls_ ABSL_GUARDED_BY(mu_) = 0;
  std::multimap<std::string, WatchReactor*> watchers_ ABSL_GUARDED_BY(mu_);
  bool work_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

// ---------------------------------------------------------------------------
// WatchSweep: a SweepEvent per change, coalesced while a write is in flight.
// ---------------------------------------------------------------------------

class SchedulerServer::Impl::WatchReactor
    : public grpc::ServerWriteReactor<v1::SweepEvent> {
 public:
  WatchReactor(Impl* impl, std::string sweep_id)
      : impl_(impl), sweep_id_(std::move(sweep_id)) {}

  const std::string& sweep_id() const { return sweep_id_; }

  // Queues an event (the newest counts, plus `job` when given).
  void Notify(const storage::JobRow* job) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    pending_ = true;
    if (job != nullptr) {
      pending_job_ = *job;
      has_pending_job_ = true;
    }
    if (!writing_) SendLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch ended"));
    } else if (sent_done_) {
      FinishLocked(grpc::Status::OK);
    } else if (pending_) {
      SendLocked();
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    // A write in flight completes with ok = false and finishes there.
    if (!writing_) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
    }
  }

  void OnDone() override {
    impl_->RemoveWatcher(this);
    delete this;
  }

 private:
  void SendLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    pending_ = false;
    absl::StatusOr<storage::SweepRow> sweep =
        impl_->store()->GetSweep(sweep_id_);
    if (!sweep.ok()) {
      // Try again with the next change rather than end the stream here,
      // where finishing could re-enter the hub's lock.
      LOG(WARNING) << "watch " << sweep_id_ << ": " << sweep.status();
      return;
    }
    event_.Clear();
    SweepToProto(*sweep, event_.mutable_status());
    event_.mutable_status()->clear_spec();
    if (has_pending_job_) {
      JobToProto(pending_job_, event_.mutable_job());
      event_.mutable_job()->clear_spec();
      has_pending_job_ = false;
    }
    sent_done_ = sweep->done();
    writing_ = true;
    StartWrite(&event_);
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  Impl* const impl_;
  const std::string sweep_id_;
  absl::Mutex mu_;
  v1::SweepEvent event_ ABSL_GUARDED_BY(mu_);
  storage::JobRow pending_job_ ABSL_GUARDED_BY(mu_);
  bool has_pending_job_ ABSL_GUARDED_BY(mu_) = false;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool sent_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

// A server stream that ends at once with an error.
class FailedWriter : public grpc::ServerWriteReactor<v1::SweepEvent> {
 public:
  explicit FailedWriter(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

void SchedulerServer::Impl::AddWatcher(WatchReactor* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.emplace(watcher->sweep_id(), watcher);
}

void SchedulerServer::Impl::RemoveWatcher(WatchReactor* watcher) {
  absl::MutexLock lock(&mu_);
  auto [begin, end] = watchers_.equal_range(watcher->sweep_id());
  for (auto it = begin; it != end; ++it) {
    if (it->second == watcher) {
      watchers_.erase(it);
      return;
    }
  }
}

void SchedulerServer::Impl::Publish(const std::string& sweep_id,
                                    const storage::JobRow* job) {
  absl::MutexLock lock(&mu_);
  auto [begin, end] = watchers_.equal_range(sweep_id);
  for (auto it = begin; it != end; ++it) it->second->Notify(job);
}

// ---------------------------------------------------------------------------
// LeaseJob long polls.
// ---------------------------------------------------------------------------

void SchedulerServer::Impl::AddWaiter(Waiter waiter) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    waiter.reactor->Finish(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
    return;
  }
  int& mine = polls_[waiter.worker_id];
  if (mine >= options_.max_polls_per_worker ||
      total_polls_ >= options_.max_polls) {
    if (mine == 0) polls_.erase(waiter.worker_id);
    waiter.reactor->Finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("too many LeaseJob long polls open (at most ",
                     options_.max_polls_per_worker, " per worker and ",
                     options_.max_polls, " in all); retry later")));
    return;
  }
  ++mine;
  ++total_polls_;
  waiters_.push_back(std::move(waiter));
  work_ = true;  // a job may have arrived between the first try and now
}

void SchedulerServer::Impl::FinishWaiter(const Waiter& waiter,
                                         const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    auto it = polls_.find(waiter.worker_id);
    if (it != polls_.end() && --it->second <= 0) polls_.erase(it);
    --total_polls_;
  }
  waiter.reactor->Finish(status);
}

grpc::Status SchedulerServer::Impl::Authorize(
    grpc::CallbackServerContext* context, Access access, Principal* who) const {
  if (!tokens_.has_value()) {
    *who = Principal{"", Role::kAdmin};
    return grpc::Status::OK;
  }
  std::optional<Principal> found;
  auto it = context->client_metadata().find("authorization");
  if (it != context->client_metadata().end()) {
    absl::string_view value(it->second.data(), it->second.size());
    if (absl::ConsumePrefix(&value, "Bearer ")) found = tokens_->Find(value);
  }
  if (!found.has_value()) {
    LOG_EVERY_N(WARNING, 100)
        << "call without a known token from " << context->peer() << " ("
        << google::COUNTER << " so far)";
    return grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        "missing or unknown token: pass --token=TOKEN or set FORGETLAB_TOKEN "
        "(an admin makes one with 'forgetlab-server tokens add')");
  }
  *who = *std::move(found);
  const Role needed = access == Access::kWorker ? Role::kWorker : Role::kClient;
  if (who->role != Role::kAdmin && who->role != needed) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("token '", who->name, "' has role ", RoleName(who->role),
                     "; this call needs role ", RoleName(needed), " or admin"));
  }
  return grpc::Status::OK;
}

grpc::Status SchedulerServer::Impl::CheckOwner(const Principal& who,
                                               const std::string& sweep_id) {
  if (who.role == Role::kAdmin) return grpc::Status::OK;
  absl::StatusOr<storage::SweepRow> row = store_->GetSweep(sweep_id);
  if (!row.ok()) return ToGrpcStatus(row.status());
  if (row->owner != who.name) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("sweep ", sweep_id, " belongs to '", row->owner,
                     "'; only its owner or an admin may change it"));
  }
  return grpc::Status::OK;
}

void SchedulerServer::Impl::SignalWork() {
  absl::MutexLock lock(&mu_);
  work_ = true;
}

void SchedulerServer::Impl::DeliverLease(const storage::Lease& lease,
                                         v1::LeaseJobResponse* response) {
  JobToProto(lease.job, response->mutable_job());
  response->set_lease_token(lease.token);
  response->set_deadline_ms(lease.deadline_ms);
  Publish(lease.job.sweep_id, &lease.job);
}

void SchedulerServer::Impl::DispatchLoop() {
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
      if (stopping_) {
        for (Waiter& w : waiters_) {
          w.reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "server shutting down"));
        }
        waiters_.clear();
        polls_.clear();
        total_polls_ = 0;
        return;
      }
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
            store_->LeaseJob(w.worker_id, lease_ms());
        if (!lease.ok()) {
          FinishWaiter(w, ToGrpcStatus(lease.status()));
          continue;
        }
        if (lease->has_value()) {
          DeliverLease(**lease, w.response);
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

void SchedulerServer::Impl::ExpireLeases() {
  absl::StatusOr<std::vector<std::string>> changed = store_->ExpireLeases();
  if (!changed.ok()) {
    LOG(ERROR) << "expiring leases: " << changed.status();
    return;
  }
  if (changed->empty()) return;
  LOG(INFO) << "expired " << changed->size() << " lease(s)";
  for (const std::string& sweep :
       std::set<std::string>(changed->begin(), changed->end())) {
    Publish(sweep, nullptr);
  }
  SignalWork();
}

void SchedulerServer::Impl::ReapLoop() {
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

// ---------------------------------------------------------------------------
// Client-facing service.
// ---------------------------------------------------------------------------

class SchedulerServer::Impl::ClientService final
    : public v1::ForgetlabService::CallbackService {
 public:
  explicit ClientService(Impl* impl) : impl_(impl) {}

  grpc::ServerUnaryReactor* SubmitSweep(
      grpc::CallbackServerContext* context,
      const v1::SubmitSweepRequest* request,
      v1::SubmitSweepResponse* response) override {
    return impl_->Unary(context, Access::kSubmit, [&](const Principal& who) {
      return DoSubmit(request->sweep(), request->dry_run(), who, response);
    });
  }

  grpc::ServerUnaryReactor* GetSweep(grpc::CallbackServerContext* context,
                                     const v1::GetSweepRequest* request,
                                     v1::SweepStatus* response) override {
    return impl_->Unary(context, Access::kRead, [&](const Principal&) {
      absl::StatusOr<storage::SweepRow> row =
          impl_->store()->GetSweep(request->sweep_id());
      if (row.ok()) SweepToProto(*row, response);
      return ToGrpcStatus(row.status());
    });
  }

  grpc::ServerUnaryReactor* ListSweeps(
      grpc::CallbackServerContext* context,
      const v1::ListSweepsRequest* request,
      v1::ListSweepsResponse* response) override {
    return impl_->Unary(context, Access::kRead, [&](const Principal&) {
      const int limit =
          request->limit() <= 0 ? 100 : std::min(request->limit(), 1000);
      absl::StatusOr<std::vector<storage::SweepRow>> rows =
          impl_->store()->ListSweeps(limit);
      if (rows.ok()) {
        for (const auto& row : *rows) SweepToProto(row, response->add_sweeps());
      }
      return ToGrpcStatus(rows.status());
    });
  }

  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override {
    return impl_->Unary(context, Access::kRead, [&](const Principal&) {
      return DoListJobs(*request, response);
    });
  }

  grpc::ServerWriteReactor<v1::SweepEvent>* WatchSweep(
      grpc::CallbackServerContext* context,
      const v1::WatchSweepRequest* request) override {
    Principal who;
    grpc::Status status = impl_->Authorize(context, Access::kRead, &who);
    if (!status.ok()) return new FailedWriter(status);
    absl::StatusOr<std::string> exists =
        impl_->store()->GetSweepSpec(request->sweep_id());
    if (!exists.ok()) return new FailedWriter(ToGrpcStatus(exists.status()));
    auto* watcher = new WatchReactor(impl_, request->sweep_id());
    impl_->AddWatcher(watcher);
    watcher->Notify(nullptr);  // the first event: current counts
    return watcher;
  }

  grpc::ServerUnaryReactor* CancelSweep(
      grpc::CallbackServerContext* context,
      const v1::CancelSweepRequest* request,
      v1::CancelSweepResponse* response) override {
    return impl_->Unary(context, Access::kSubmit, [&](const Principal& who) {
      grpc::Status owner = impl_->CheckOwner(who, request->sweep_id());
      if (!owner.ok()) return owner;
      absl::StatusOr<storage::CancelOutcome> out = impl_->store()->CancelSweep(
          request->sweep_id(),
          {request->job_ids().begin(), request->job_ids().end()});
      if (out.ok()) {
        response->set_cancelled(out->cancelled);
        response->set_stopping(out->stopping);
        LOG(INFO) << "sweep " << request->sweep_id()
                  << " cancelled: " << out->cancelled << " queued, "
                  << out->stopping << " leased";
        impl_->Publish(request->sweep_id(), nullptr);
      }
      return ToGrpcStatus(out.status());
    });
  }

  grpc::ServerUnaryReactor* RetrySweep(
      grpc::CallbackServerContext* context,
      const v1::RetrySweepRequest* request,
      v1::RetrySweepResponse* response) override {
    return impl_->Unary(context, Access::kSubmit, [&](const Principal& who) {
      grpc::Status owner = impl_->CheckOwner(who, request->sweep_id());
      if (!owner.ok()) return owner;
      absl::StatusOr<int> requeued =
          impl_->store()->RetrySweep(request->sweep_id());
      if (requeued.ok()) {
        response->set_requeued(*requeued);
        LOG(INFO) << "sweep " << request->sweep_id() << ": " << *requeued
                  << " job(s) queued again";
        impl_->Publish(request->sweep_id(), nullptr);
        impl_->SignalWork();
      }
      return ToGrpcStatus(requeued.status());
    });
  }

  grpc::ServerUnaryReactor* QueryTable(grpc::CallbackServerContext* context,
                                       const v1::QueryTableRequest* request,
                                       v1::Table* response) override {
    return impl_->Unary(context, Access::kRead, [&](const Principal&) {
      return DoQueryTable(*request, response);
    });
  }

  grpc::ServerUnaryReactor* ListResults(
      grpc::CallbackServerContext* context,
      const v1::ListResultsRequest* request,
      v1::ListResultsResponse* response) override {
    return impl_->Unary(context, Access::kRead, [&](const Principal&) {
      return DoListResults(*request, response);
    });
  }

  grpc::ServerUnaryReactor* ListWorkers(
      grpc::CallbackServerContext* context, const v1::ListWorkersRequest*,
      v1::ListWorkersResponse* response) override {
    return impl_->Unary(context, Access::kRead, [&](const Principal&) {
      absl::StatusOr<std::vector<storage::WorkerRow>> rows =
          impl_->store()->ListWorkers();
      if (rows.ok()) {
        const int64_t now = impl_->Now();
        for (const auto& row : *rows) {
          v1::WorkerInfo* w = response->add_workers();
          w->set_worker_id(row.worker_id);
          w->set_host(row.host);
          w->set_device(row.device);
          w->set_current_job_id(row.current_job_id);
          w->set_last_seen_ms(row.last_seen_ms);
          w->set_lost(now - row.last_seen_ms > impl_->lease_ms());
        }
      }
      return ToGrpcStatus(rows.status());
    });
  }

 private:
  using Access = Impl::Access;

  grpc::Status DoSubmit(const v1::SweepSpec& spec, bool dry_run,
                        const Principal& who,
                        v1::SubmitSweepResponse* response) {
    if (spec.name().size() > kMaxNameLength) {
      return InvalidArgument(absl::StrCat("sweep.name is longer than ",
                                          kMaxNameLength, " characters"));
    }
    if (spec.request_id().size() > kMaxNameLength) {
      return InvalidArgument(absl::StrCat("sweep.request_id is longer than ",
                                          kMaxNameLength, " characters"));
    }
    if (!spec.device_kind().empty() && spec.device_kind() != "cpu" &&
        spec.device_kind() != "cuda") {
      return InvalidArgument(absl::StrCat(
          "sweep.device_kind must be \"\", \"cpu\" or \"cuda\" (got \"",
          spec.device_kind(), "\")"));
    }
    absl::StatusOr<std::vector<ExpandedJob>> jobs =
        ExpandSweep(spec, impl_->options().max_jobs_per_sweep);
    if (!jobs.ok()) {
      return InvalidArgument(absl::StrCat("sweep.", jobs.status().message()));
    }
    // Every job shares the base's data; only numeric fields vary.
    if (!jobs->empty() && !jobs->front().spec.data().path().empty()) {
      absl::Status s = CheckDataPath(jobs->front().spec.data().path(),
                                     impl_->options().data_roots);
      if (!s.ok()) {
        return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                            absl::StrCat("sweep.base.", s.message()));
      }
    }
    if (dry_run) {
      std::vector<std::pair<std::string, std::string>> keys;
      for (const ExpandedJob& job : *jobs) {
        keys.emplace_back(job.spec_key, job.canonical);
        v1::Job* planned = response->add_planned_jobs();
        planned->set_index(response->planned_jobs_size() - 1);
        *planned->mutable_spec() = job.spec;
        planned->set_spec_key(job.spec_key);
        planned->mutable_axis_values()->insert(job.axis_values.begin(),
                                               job.axis_values.end());
      }
      absl::StatusOr<int> cached = spec.rerun()
                                       ? absl::StatusOr<int>(0)
                                       : impl_->store()->CountCached(keys);
      if (!cached.ok()) return ToGrpcStatus(cached.status());
      response->set_jobs(static_cast<int>(jobs->size()));
      response->set_cached(*cached);
      return grpc::Status::OK;
    }
    storage::NewSweep sweep;
    sweep.name = spec.name();
    sweep.spec = spec.SerializeAsString();
    // Request ids are per owner, so one user cannot fetch another's sweep
    // by guessing an id.
    sweep.request_id = spec.request_id().empty() || who.name.empty()
                           ? spec.request_id()
                           : absl::StrCat(who.name, "/", spec.request_id());
    sweep.owner = who.name;
    sweep.priority = spec.priority();
    sweep.max_attempts =
        spec.has_max_attempts() ? spec.max_attempts() : kDefaultMaxAttempts;
    sweep.device_kind = spec.device_kind();
    sweep.use_cache = !spec.rerun();
    sweep.jobs.reserve(jobs->size());
    for (ExpandedJob& job : *jobs) {
      std::string dataset = job.spec.data().dataset();
      sweep.jobs.push_back(
          storage::NewJob{std::move(job.canonical), std::move(job.spec_key),
                          std::move(job.axis_values), std::move(dataset)});
    }
    bool existing = false;
    absl::StatusOr<std::string> id =
        impl_->store()->CreateSweep(sweep, &existing);
    if (!id.ok()) return ToGrpcStatus(id.status());
    response->set_sweep_id(*id);
    response->set_existing(existing);
    response->set_jobs(static_cast<int>(sweep.jobs.size()));
    absl::StatusOr<storage::SweepRow> stored = impl_->store()->GetSweep(*id);
    if (stored.ok()) response->set_cached(stored->cached);
    if (!existing) {
      LOG(INFO) << "sweep " << *id << " '" << spec.name()
                << "': " << sweep.jobs.size() << " jobs queued";
      impl_->SignalWork();
    }
    return grpc::Status::OK;
  }

  grpc::Status DoListJobs(const v1::ListJobsRequest& request,
                          v1::ListJobsResponse* response) {
    if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
      return InvalidArgument(
          absl::StrCat("page_size must be between 0 and ", kMaxPageSize));
    }
    // Only whether the sweep exists: its job counts would cost a scan.
    absl::StatusOr<std::string> sweep =
        impl_->store()->GetSweepSpec(request.sweep_id());
    if (!sweep.ok()) return ToGrpcStatus(sweep.status());
    const int page = request.page_size() == 0 ? 1000 : request.page_size();
    std::optional<storage::JobState> state;
    if (request.state() != v1::JOB_STATE_UNSPECIFIED) {
      state = static_cast<storage::JobState>(request.state());
    }
    absl::StatusOr<std::vector<storage::JobRow>> rows =
        impl_->store()->ListJobs(request.sweep_id(), state,
                                 request.after_job_id(), page);
    if (!rows.ok()) return ToGrpcStatus(rows.status());
    for (const auto& row : *rows) JobToProto(row, response->add_jobs());
    if (static_cast<int>(rows->size()) == page) {
      response->set_next_after_job_id(rows->back().job_id);
    }
    return grpc::Status::OK;
  }

  grpc::Status DoQueryTable(const v1::QueryTableRequest& request,
                            v1::Table* table) {
    if (request.sweep_ids().empty()) {
      return InvalidArgument("sweep_ids: name at least one sweep");
    }
    table->set_metric(request.metric().empty() ? "forgetting"
                                               : request.metric());
    table->set_row_axis(request.row_axis().empty() ? "model.width"
                                                   : request.row_axis());
    table->set_col_axis(request.col_axis().empty() ? "pretrain.examples"
                                                   : request.col_axis());
    std::vector<TableSample> values;
    std::vector<std::string> ids;
    for (const std::string& id : request.sweep_ids()) {
      absl::StatusOr<std::string> stored = impl_->store()->GetSweepSpec(id);
      if (!stored.ok()) return ToGrpcStatus(stored.status());
      ids.push_back(id);
      v1::SweepSpec spec;
      spec.ParseFromString(*stored);
      // A field the sweep does not vary has its base value in every job.
      const v1::ExperimentSpec base = ResolveDefaults(spec.base());
      std::set<std::string> axes = {"seed"};
      for (const v1::Axis& axis : spec.axes()) axes.insert(axis.path());
      double fixed[2] = {0, 0};
      const std::string* names[2] = {&table->row_axis(), &table->col_axis()};
      const char* fields[2] = {"row_axis", "col_axis"};
      for (int a = 0; a < 2; ++a) {
        absl::StatusOr<double> value = GetNumericField(base, *names[a]);
        if (!value.ok()) {
          return InvalidArgument(
              absl::StrCat(fields[a], ": ", value.status().message()));
        }
        fixed[a] = *value;
      }
      std::vector<std::pair<std::string, double>> axis_filters;
      bool excluded = false;
      for (int f = 0; f < request.where_size(); ++f) {
        const v1::AxisFilter& filter = request.where(f);
        absl::StatusOr<double> value = GetNumericField(base, filter.path());
        if (!value.ok()) {
          return InvalidArgument(
              absl::StrCat("where[", f, "]: ", value.status().message()));
        }
        if (axes.count(filter.path())) {
          axis_filters.emplace_back(filter.path(), filter.value());
        } else if (*value != filter.value()) {
          excluded = true;  // the whole sweep has another value
        }
      }
      if (excluded) continue;
      absl::StatusOr<std::vector<storage::MetricSample>> samples =
          impl_->store()->MetricSamples({id}, table->metric(),
                                        table->row_axis(), table->col_axis(),
                                        axis_filters);
      if (!samples.ok()) return ToGrpcStatus(samples.status());
      for (const storage::MetricSample& s : *samples) {
        values.push_back({s.row.value_or(fixed[0]), s.col.value_or(fixed[1]),
                          s.value, s.parameter_count});
      }
    }
    if (values.empty()) {
      // No values: nothing finished yet, the filters exclude everything, or
      // the metric is misspelt.
      absl::StatusOr<std::vector<std::string>> names =
          impl_->store()->MetricNames(ids);
      if (!names.ok()) return ToGrpcStatus(names.status());
      if (!names->empty() && std::find(names->begin(), names->end(),
                                       table->metric()) == names->end()) {
        return InvalidArgument(absl::StrCat(
            "metric: no stored metric '", table->metric(),
            "'; these sweeps have: ", absl::StrJoin(*names, ", ")));
      }
    }
    AggregateTable(values, table);
    return grpc::Status::OK;
  }

  grpc::Status DoListResults(const v1::ListResultsRequest& request,
                             v1::ListResultsResponse* response) {
    if (request.page_size() < 0 || request.page_size() > 5000) {
      return InvalidArgument("page_size must be between 0 and 5000");
    }
    absl::StatusOr<std::string> sweep =
        impl_->store()->GetSweepSpec(request.sweep_id());
    if (!sweep.ok()) return ToGrpcStatus(sweep.status());
    const int page = request.page_size() == 0 ? 500 : request.page_size();
    absl::StatusOr<std::vector<storage::Store::ResultRow>> rows =
        impl_->store()->ListResults(request.sweep_id(), request.after_job_id(),
                                    page);
    if (!rows.ok()) return ToGrpcStatus(rows.status());
    for (const auto& row : *rows) {
      v1::JobResultEntry* entry = response->add_results();
      entry->set_job_id(row.job_id);
      entry->mutable_axis_values()->insert(row.axis_values.begin(),
                                           row.axis_values.end());
      entry->mutable_result()->ParseFromString(row.blob);
    }
    if (static_cast<int>(rows->size()) == page) {
      response->set_next_after_job_id(rows->back().job_id);
    }
    return grpc::Status::OK;
  }

  Impl* const impl_;
};

// ---------------------------------------------------------------------------
// Worker-facing service.
// ---------------------------------------------------------------------------

class SchedulerServer::Impl::WorkerServiceImpl final
    : public v1::WorkerService::CallbackService {
 public:
  explicit WorkerServiceImpl(Impl* impl) : impl_(impl) {}

  grpc::ServerUnaryReactor* RegisterWorker(
      grpc::CallbackServerContext* context,
      const v1::RegisterWorkerRequest* request,
      v1::RegisterWorkerResponse* response) override {
    return impl_->Unary(context, Access::kWorker, [&](const Principal& who) {
      return DoRegister(*request, who, response);
    });
  }

  grpc::ServerUnaryReactor* LeaseJob(grpc::CallbackServerContext* context,
                                     const v1::LeaseJobRequest* request,
                                     v1::LeaseJobResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Principal who;
    grpc::Status allowed = impl_->Authorize(context, Access::kWorker, &who);
    if (!allowed.ok()) {
      reactor->Finish(allowed);
      return reactor;
    }
    // Answered on the store's thread once the lease is committed; this
    // thread goes back to gRPC at once.
    impl_->store()->TouchAndLease(
        request->worker_id(), impl_->lease_ms(),
        [impl = impl_, context, request, response,
         reactor](absl::StatusOr<storage::Store::LeaseAttempt> out) {
          if (!out.ok()) {
            reactor->Finish(ToGrpcStatus(out.status()));
          } else if (out->lease.has_value()) {
            impl->DeliverLease(*out->lease, response);
            reactor->Finish(grpc::Status::OK);
          } else if (request->wait_seconds() <= 0) {
            reactor->Finish(grpc::Status::OK);
          } else {
            const int wait = std::min(request->wait_seconds(),
                                      impl->options().max_wait_seconds);
            const std::string& device = out->worker.device;
            const std::string capability =
                absl::StrCat(device.substr(0, device.find(':')), "|",
                             absl::StrJoin(out->worker.datasets, ","));
            impl->AddWaiter(Waiter{context, request->worker_id(), capability,
                                   response, reactor,
                                   absl::Now() + absl::Seconds(wait)});
          }
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* Heartbeat(
      grpc::CallbackServerContext* context, const v1::HeartbeatRequest* request,
      v1::HeartbeatResponse* response) override {
    return impl_->UnaryAsync(
        context, Access::kWorker,
        [&](const Principal&, std::function<void(grpc::Status)> finish) {
          const v1::Progress& p = request->progress();
          impl_->store()->Heartbeat(
              request->job_id(), request->lease_token(),
              p.phase().substr(0, kMaxNameLength), p.step(), p.total_steps(),
              impl_->lease_ms(),
              [this, request, response, finish = std::move(finish)](
                  absl::StatusOr<storage::HeartbeatOutcome> out) {
                if (out.ok()) {
                  response->set_deadline_ms(out->deadline_ms);
                  response->set_cancel(out->cancel);
                  PublishJob(request->job_id());
                }
                finish(ToGrpcStatus(out.status()));
              });
        });
  }

  grpc::ServerUnaryReactor* CompleteJob(grpc::CallbackServerContext* context,
                                        const v1::CompleteJobRequest* request,
                                        v1::CompleteJobResponse*) override {
    return impl_->UnaryAsync(
        context, Access::kWorker,
        [&](const Principal&, std::function<void(grpc::Status)> finish) {
          DoComplete(*request, std::move(finish));
        });
  }

  grpc::ServerUnaryReactor* FailJob(grpc::CallbackServerContext* context,
                                    const v1::FailJobRequest* request,
                                    v1::FailJobResponse*) override {
    return impl_->UnaryAsync(
        context, Access::kWorker,
        [&](const Principal&, std::function<void(grpc::Status)> finish) {
          impl_->store()->FailJob(
              request->job_id(), request->lease_token(),
              request->error().substr(0, kMaxErrorLength), request->release(),
              [this, request, finish = std::move(finish)](absl::Status s) {
                if (s.ok()) {
                  if (request->release()) {
                    LOG(INFO) << "job " << request->job_id() << " released by "
                              << request->worker_id().substr(0, kMaxNameLength);
                    impl_->SignalWork();
                  } else {
                    LOG(INFO) << "job " << request->job_id() << " failed: "
                              << request->error().substr(0, kMaxErrorLength);
                  }
                  PublishJob(request->job_id());
                }
                finish(ToGrpcStatus(s));
              });
        });
  }

 private:
  using Access = Impl::Access;

  grpc::Status DoRegister(const v1::RegisterWorkerRequest& request,
                          const Principal& who,
                          v1::RegisterWorkerResponse* response) {
    if (request.host().size() > kMaxNameLength ||
        request.device().size() > kMaxNameLength) {
      return InvalidArgument("host and device must be at most 256 characters");
    }
    if (request.datasets_size() > 64) {
      return InvalidArgument("datasets lists more than 64 names");
    }
    for (const std::string& d : request.datasets()) {
      if (d.empty() || d.size() > 64 || d.find(',') != std::string::npos) {
        return InvalidArgument(
            absl::StrCat("datasets: '", d, "' is not a dataset name"));
      }
    }
    absl::StatusOr<std::string> id = impl_->store()->RegisterWorker(
        request.host(), request.device(), request.threads(),
        {request.datasets().begin(), request.datasets().end()});
    if (id.ok()) {
      response->set_worker_id(*id);
      response->set_lease_seconds(impl_->options().lease_seconds);
      LOG(INFO) << "worker " << *id << " registered from " << request.host()
                << " (" << request.device() << ")"
                << (who.name.empty() ? "" : " with token ") << who.name;
    }
    return ToGrpcStatus(id.status());
  }

  // Stores the result once it checks out against the leased job's spec,
  // then calls `finish` (on the store's thread).
  void DoComplete(const v1::CompleteJobRequest& request,
                  std::function<void(grpc::Status)> finish) {
    const v1::CompleteJobRequest* r = &request;  // valid until `finish`
    impl_->store()->CompleteJob(
        request.job_id(), request.lease_token(),
        ResultRecordFromProto(request.result()),
        [r](const storage::JobRow& job) {
          v1::ExperimentSpec spec;
          spec.ParseFromString(job.spec);
          return ValidateResult(r->result(), spec.tasks_size());
        },
        [this, r, finish = std::move(finish)](absl::Status s) {
          if (s.ok()) {
            impl_->RecordResult();
            PublishJob(r->job_id());
          }
          finish(ToGrpcStatus(s));
        });
  }

  void PublishJob(int64_t job_id) {
    // Nobody watching: skip reading the job back (the common case under
    // load).
    if (!impl_->HasWatchers()) return;
    absl::StatusOr<storage::JobRow> job = impl_->store()->GetJob(job_id);
    if (job.ok()) impl_->Publish(job->sweep_id, &*job);
  }

  Impl* const impl_;
};

// ---------------------------------------------------------------------------
// Start and stop.
// ---------------------------------------------------------------------------

absl::Status SchedulerServer::Impl::Start() {
  const bool tls = !options_.tls_cert_file.empty();
  if (tls != !options_.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together: pass both, or neither");
  }
  if (!options_.client_ca_file.empty() && !tls) {
    return absl::InvalidArgumentError(
        "--client_ca needs TLS: pass --tls_cert and --tls_key as well");
  }
  if (!options_.tokens_file.empty()) {
    absl::StatusOr<TokenSet> tokens = TokenSet::Load(options_.tokens_file);
    if (!tokens.ok()) return tokens.status();
    if (tokens->size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tokens_file=", options_.tokens_file,
          " has no tokens, so nobody could call the server; add one with "
          "'forgetlab-server tokens add'"));
    }
    tokens_ = *std::move(tokens);
  }
  if (!IsLoopbackAddress(options_.listen)) {
    const bool secured = tls && tokens_.has_value();
    if (!secured && !options_.allow_insecure) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--listen=", options_.listen,
          " is not a loopback address, and the server has no ",
          !tls && !tokens_ ? "TLS and no tokens"
          : !tls           ? "TLS"
                           : "tokens",
          ". Anyone on the network could submit, read and cancel work. Add "
          "TLS (--tls_cert/--tls_key; deploy/make-certs.sh makes them) and "
          "--tokens_file=FILE ('forgetlab-server tokens add' makes "
          "tokens), or listen on 127.0.0.1"));
    }
    if (!secured) {
      LOG(WARNING) << "*** --allow_insecure: serving " << options_.listen
                   << (tls ? "" : ", WITHOUT TLS")
                   << (tokens_ ? "" : ", WITHOUT TOKENS")
                   << ". Anyone who can reach this port can submit, read, "
                      "cancel and fake results. ***";
    }
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (tls) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tls_credentials =
        TlsServerCredentials(options_.tls_cert_file, options_.tls_key_file,
                             options_.client_ca_file);
    if (!tls_credentials.ok()) return tls_credentials.status();
    credentials = *tls_credentials;
  }
  if (options_.lease_seconds < 1 || options_.lease_seconds > 3600) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lease_seconds must be between 1 and 3600 (got ",
                     options_.lease_seconds, ")"));
  }
  absl::StatusOr<std::unique_ptr<storage::Store>> store =
      storage::Store::Open({options_.db_path, options_.now_ms});
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  // Workers kept training while we were down: give them a lease period to
  // find us again before their jobs are handed to someone else.
  absl::Status s = store_->ExtendLeases(Now() + lease_ms());
  if (!s.ok()) return s;

  if (!options_.metrics_listen.empty()) {
    s = StartMetrics();
    if (!s.ok()) return s;
  }
  client_service_ = std::make_unique<ClientService>(this);
  worker_service_ = std::make_unique<WorkerServiceImpl>(this);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, credentials, &port_);
  builder.RegisterService(client_service_.get());
  builder.RegisterService(worker_service_.get());
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  if (metrics_server_ != nullptr) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(std::make_unique<RpcMetricsFactory>(&metrics_));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options_.listen,
        tls ? "; is another process using the port, or are --tls_cert and "
              "--tls_key not a matching certificate and key?"
            : "; is another process using the port?"));
  }
  if (!options_.health_listen.empty()) {
    int health_port = 0;
    absl::StatusOr<std::unique_ptr<grpc::Server>> health = StartHealthServer(
        options_.health_listen, "--health_listen", &health_, &health_port);
    if (!health.ok()) return health.status();
    health_server_ = *std::move(health);
  }
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  reaper_ = std::thread([this] { ReapLoop(); });
  return absl::OkStatus();
}

absl::Status SchedulerServer::Impl::StartMetrics() {
  results_total_ = metrics_.GetCounter(
      "forgetlab_results_total", "Results stored since the server started.");
  // Scrape-time series, read from the database and the scheduler's state.
  static constexpr const char* kStates[] = {"QUEUED", "LEASED", "SUCCEEDED",
                                            "FAILED", "CANCELLED"};
  std::map<std::string, metrics::Gauge*> by_state;
  for (const char* state : kStates) {
    by_state[state] =
        metrics_.GetGauge("forgetlab_jobs",
                          "Jobs in each state, over every sweep (the queue "
                          "depth is state=\"QUEUED\").",
                          {{"state", state}});
  }
  metrics::Gauge* leases = metrics_.GetGauge(
      "forgetlab_leases_active", "Jobs leased to a worker right now.");
  metrics::Counter* expiries = metrics_.GetCounter(
      "forgetlab_lease_expiries_total",
      "Leases that ran out (worker silent for a lease period) since the "
      "server started.");
  metrics::Gauge* alive =
      metrics_.GetGauge("forgetlab_workers_alive",
                        "Workers heard from within the last lease period.");
  metrics::Gauge* polls = metrics_.GetGauge(
      "forgetlab_long_polls_open", "LeaseJob long polls waiting for work.");
  metrics::Gauge* rate = metrics_.GetGauge(
      "forgetlab_results_per_second",
      "Results stored per second, averaged over the last minute.");
  metrics_.AddCollector([=]() mutable {
    absl::StatusOr<std::map<std::string, int64_t>> counts =
        store_->CountJobsByState();
    if (counts.ok()) {
      for (auto& [state, gauge] : by_state) {
        const auto it = counts->find(state);
        gauge->Set(it == counts->end() ? 0 : static_cast<double>(it->second));
      }
      leases->Set(by_state["LEASED"]->Value());
    }
    expiries->Add(static_cast<double>(store_->lease_expiries()) -
                  expiries->Value());
    absl::StatusOr<std::vector<storage::WorkerRow>> workers =
        store_->ListWorkers();
    if (workers.ok()) {
      const int64_t now = Now();
      alive->Set(static_cast<double>(std::count_if(
          workers->begin(), workers->end(), [&](const storage::WorkerRow& w) {
            return now - w.last_seen_ms <= lease_ms();
          })));
    }
    {
      absl::MutexLock lock(&mu_);
      polls->Set(total_polls_);
    }
    const int64_t second = Now() / 1000;
    int64_t results = 0;
    absl::MutexLock lock(&rate_mu_);
    for (const auto& [when, count] : results_per_second_) {
      if (when > second - 60 && when <= second) results += count;
    }
    rate->Set(static_cast<double>(results) / 60.0);
  });
  absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> server =
      metrics::MetricsServer::Start(options_.metrics_listen, &metrics_);
  if (!server.ok()) return server.status();
  metrics_server_ = *std::move(server);
  LOG(INFO) << "metrics at http://"
            << options_.metrics_listen.substr(
                   0, options_.metrics_listen.rfind(':'))
            << ":" << metrics_server_->port() << "/metrics";
  return absl::OkStatus();
}

void SchedulerServer::Impl::RecordResult() {
  if (results_total_ == nullptr) return;
  results_total_->Add();
  const int64_t second = Now() / 1000;
  absl::MutexLock lock(&rate_mu_);
  auto& slot = results_per_second_[static_cast<size_t>(second % 60)];
  if (slot.first != second) slot = {second, 0};
  ++slot.second;
}

void SchedulerServer::Impl::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  metrics_server_.reset();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(200));
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  if (reaper_.joinable()) reaper_.join();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
    server_->Wait();
  }
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

SchedulerServer::SchedulerServer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

SchedulerServer::~SchedulerServer() { impl_->Shutdown(); }

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Start(
    Options options) {
  if (!options.now_ms) {
    options.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status s = impl->Start();
  if (!s.ok()) return s;
  return std::unique_ptr<SchedulerServer>(new SchedulerServer(std::move(impl)));
}

int SchedulerServer::port() const { return impl_->port(); }
int SchedulerServer::metrics_port() const { return impl_->metrics_port(); }
void SchedulerServer::Shutdown() { impl_->Shutdown(); }
void SchedulerServer::Wait() { impl_->Wait(); }
void SchedulerServer::ExpireLeasesNow() { impl_->ExpireLeases(); }

}  // namespace forgetlab
