// forgetlab worker loop.
#include "worker/worker.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "proto/net/channel.h"
#include "proto/net/health.h"
#include "proto/net/prometheus.h"
#include "worker/core_budget.h"
#include "worker/job_runner.h"
#include "worker/train/default_protocol.h"
#include "worker/train/experiment.h"

namespace forgetlab {
namespace {

std::string HostName() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "unknown";
  return buffer;
}

// Errors no retry can fix: the token is missing, unknown or not a worker's.
bool IsAuthError(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         s.error_code() == grpc::StatusCode::PERMISSION_DENIED;
}

// Errors worth waiting out: the scheduler is down, restarting or overloaded.
bool IsTransient(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         s.error_code() == grpc::StatusCode::INTERNAL;
}

template <typename Duration>
std::chrono::system_clock::time_point In(Duration d) {
  return std::chrono::system_clock::now() + d;
}

}  // namespace

class Worker::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {
    if (options_.host.empty()) options_.host = HostName();
    if (options_.datasets.empty()) {
      options_.datasets.push_back("synthetic");
      if (train::IdxFolderPresent(protocol::kFashionMnistPath)) {
        options_.datasets.push_back("fashion_mnist");
      }
      // The LM track's text domains whose Debian packages are installed.
      for (const std::string& domain : train::TextDomainsPresent()) {
        options_.datasets.push_back("text:" + domain);
      }
    }
  }

  absl::Status Run();

  int metrics_port() const { return metrics_port_.load(); }
  int64_t scheduler_failures() const {
    return scheduler_failures_.load(std::memory_order_relaxed);
  }
  int health_port() const { return health_port_.load(); }

  void Stop() {
    absl::MutexLock lock(&mu_);
    if (!stop_.HasBeenNotified()) stop_.Notify();
    for (const auto& slot : slots_) {
      if (slot->poll_context != nullptr) slot->poll_context->TryCancel();
    }
  }

 private:
  struct ActiveLease {
    int64_t job_id = 0;
    std::string token;
  };

  // One job at a time: its own registration, long poll, lease, heartbeats
  // and progress.
  struct Slot {
    int index = 0;
    std::string host;  // the worker's host, with "/slotN" when there are more
    std::string worker_id;
    int lease_seconds = 60;
    absl::Duration backoff = absl::Milliseconds(200);
    std::mt19937 rng{std::random_device{}()};
    grpc::ClientContext* poll_context = nullptr;  // guarded by Impl::mu_
    train::Progress progress;                     // guarded by Impl::mu_
    std::string sweep_id, job_id;                 // guarded by Impl::mu_
  };

  bool stopping() const { return stop_.HasBeenNotified(); }

  // A call context with the deadline and our token.
  std::unique_ptr<grpc::ClientContext> Context(std::chrono::seconds timeout) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(In(timeout));
    AttachToken(options_.token, ctx.get());
    return ctx;
  }

  // Stops the worker for good; Run() returns `status`.
  void Fatal(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      fatal_ = absl::PermissionDeniedError(
          absl::StrCat("the scheduler at ", options_.scheduler,
                       " refused this worker: ", status.error_message()));
    }
    Stop();
  }

  // The loop made progress (for the liveness check).
  void Touch() { last_activity_ms_ = absl::ToUnixMillis(absl::Now()); }
  // Whether the scheduler answered the last call (for the readiness check).
  void SetConnected(bool connected) {
    Touch();
    connected_ = connected;
  }

  // Starts the metrics and health endpoints the options ask for.
  absl::Status StartEndpoints();
  // Counts a finished job by outcome and clears the slot's job.
  void CountJob(Slot& slot, const std::string& outcome,
                const absl::StatusOr<v1::JobResult>& result);
  metrics::Counter* JobsCounter(const std::string& outcome);
  // Sets the slot's job (empty ids: idle) and forgetlab_worker_current_job.
  void SetCurrentJob(Slot& slot, const std::string& sweep_id,
                     const std::string& job_id);
  // forgetlab_worker_current_job from every slot's job.
  void PublishCurrentJobs();

  // Sleeps for the slot's current backoff (interrupted by Stop) and doubles
  // it.
  void Backoff(Slot& slot, const std::string& why) {
    SetConnected(false);
    scheduler_failures_.fetch_add(1, std::memory_order_relaxed);
    LOG_EVERY_N(WARNING, 5)
        << why << "; retrying in " << absl::FormatDuration(slot.backoff);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    stop_.WaitForNotificationWithTimeout(slot.backoff * jitter(slot.rng));
    slot.backoff = std::min(slot.backoff * 2, options_.max_backoff);
  }
  void ResetBackoff(Slot& slot) { slot.backoff = options_.min_backoff; }

  // One slot's loop: register, then lease and run jobs until stopped.
  void SlotLoop(Slot& slot);
  bool Register(Slot& slot);
  // Returns true with a lease filled in, false when none (or stopping).
  bool Lease(Slot& slot, v1::LeaseJobResponse* lease);
  // Runs the job on `threads` threads; `cores` waits for the cores it needs
  // (heartbeats go on meanwhile) and returns false when the worker stops.
  void RunLeasedJob(Slot& slot, const v1::LeaseJobResponse& lease, int threads,
                    const std::function<bool()>& cores);
  void HeartbeatLoop(Slot& slot, const ActiveLease& lease,
                     std::atomic<bool>* cancel, std::atomic<bool>* lost,
                     std::atomic<bool>* cancelled, absl::Notification* done);
  void Finish(Slot& slot, const ActiveLease& lease,
              const absl::StatusOr<v1::JobResult>& result, bool lost,
              bool cancelled_by_user);

  Options options_;
  SlotPlan plan_;
  std::unique_ptr<CoreBudget> budget_;  // --slots=auto on a CPU
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<int> jobs_started_{0};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  absl::Notification stop_;
  std::atomic<int64_t> last_activity_ms_{absl::ToUnixMillis(absl::Now())};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> scheduler_failures_{0};

  metrics::Registry metrics_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  metrics::Counter* samples_total_ = nullptr;
  metrics::Counter* job_seconds_total_ = nullptr;
  metrics::Gauge* samples_per_second_ = nullptr;
  // "": the loop made progress within kStallMinutes; "forgetlab.worker":
  // that, and the scheduler answers.
  HealthService health_{
      [this](const std::string& service) -> std::optional<bool> {
        const bool live =
            absl::Now() - absl::FromUnixMillis(last_activity_ms_.load()) <
            absl::Minutes(Worker::kStallMinutes);
        if (service.empty()) return live && !stopping();
        if (service == "forgetlab.worker") {
          return live && connected_.load() && !stopping();
        }
        return std::nullopt;
      }};
  std::unique_ptr<grpc::Server> health_server_;
  std::atomic<int> health_port_{0};
  std::atomic<int> metrics_port_{0};

  absl::Mutex mu_;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
};

bool Worker::Impl::Register(Slot& slot) {
  ResetBackoff(slot);
  while (!stopping()) {
    std::unique_ptr<grpc::ClientContext> ctx =
        Context(std::chrono::seconds(10));
    v1::RegisterWorkerRequest request;
    request.set_host(slot.host);
    request.set_device(options_.device);
    request.set_threads(plan_.threads > 0 ? plan_.threads : plan_.cores);
    for (const std::string& d : options_.datasets) request.add_datasets(d);
    v1::RegisterWorkerResponse response;
    grpc::Status s = stub_->RegisterWorker(ctx.get(), request, &response);
    if (IsAuthError(s)) {
      Fatal(s);
      return false;
    }
    if (s.ok()) {
      SetConnected(true);
      slot.worker_id = response.worker_id();
      slot.lease_seconds = std::max(1, response.lease_seconds());
      LOG(INFO) << "registered with " << options_.scheduler << " as "
                << slot.worker_id << " (slot " << slot.index << ", lease "
                << slot.lease_seconds << " s, datasets "
                << absl::StrJoin(options_.datasets, ",") << ")";
      ResetBackoff(slot);
      return true;
    }
    Backoff(slot, absl::StrCat("cannot register with scheduler ",
                               options_.scheduler, ": ", s.error_message()));
  }
  return false;
}

bool Worker::Impl::Lease(Slot& slot, v1::LeaseJobResponse* lease) {
  std::unique_ptr<grpc::ClientContext> ctx =
      Context(std::chrono::seconds(options_.wait_seconds + 15));
  {
    absl::MutexLock lock(&mu_);
    if (stopping()) return false;
    slot.poll_context = ctx.get();
  }
  v1::LeaseJobRequest request;
  request.set_worker_id(slot.worker_id);
  request.set_wait_seconds(options_.wait_seconds);
  grpc::Status s = stub_->LeaseJob(ctx.get(), request, lease);
  {
    absl::MutexLock lock(&mu_);
    slot.poll_context = nullptr;
  }
  if (stopping()) {
    // A lease granted just as we stopped must not wait for its deadline.
    if (s.ok() && lease->has_job()) {
      Finish(slot, {lease->job().job_id(), lease->lease_token()},
             absl::CancelledError("worker stopping"), false, false);
    }
    return false;
  }
  if (s.ok()) {
    SetConnected(true);
    ResetBackoff(slot);
    return lease->has_job();
  }
  if (IsAuthError(s)) {
    Fatal(s);
    return false;
  }
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    // The scheduler does not know us (e.g. a fresh database): register anew.
    LOG(WARNING) << s.error_message();
    Register(slot);
    return false;
  }
  Backoff(slot, absl::StrCat("lease from ", options_.scheduler,
                             " failed: ", s.error_message()));
  return false;
}

void Worker::Impl::HeartbeatLoop(Slot& slot, const ActiveLease& lease,
                                 std::atomic<bool>* cancel,
                                 std::atomic<bool>* lost,
                                 std::atomic<bool>* cancelled,
                                 absl::Notification* done) {
  const absl::Duration interval =
      std::clamp(absl::Seconds(slot.lease_seconds) / 4, absl::Seconds(1),
                 absl::Seconds(10));
  absl::Duration wait = absl::Seconds(1);  // first report soon after start
  for (;;) {
    if (done->WaitForNotificationWithTimeout(wait)) return;
    wait = interval;
    if (stopping()) cancel->store(true);
    std::unique_ptr<grpc::ClientContext> ctx = Context(std::chrono::seconds(5));
    v1::HeartbeatRequest request;
    request.set_worker_id(slot.worker_id);
    request.set_job_id(lease.job_id);
    request.set_lease_token(lease.token);
    {
      absl::MutexLock lock(&mu_);
      request.mutable_progress()->set_phase(slot.progress.phase);
      request.mutable_progress()->set_step(slot.progress.step);
      request.mutable_progress()->set_total_steps(slot.progress.total_steps);
    }
    v1::HeartbeatResponse response;
    grpc::Status s = stub_->Heartbeat(ctx.get(), request, &response);
    if (s.ok()) {
      SetConnected(true);
      if (response.cancel()) {
        LOG(INFO) << "job " << lease.job_id << " cancelled by the user";
        cancelled->store(true);
        cancel->store(true);
      }
    } else if (s.error_code() == grpc::StatusCode::ABORTED ||
               s.error_code() == grpc::StatusCode::NOT_FOUND) {
      LOG(WARNING) << "job " << lease.job_id << ": lease lost ("
                   << s.error_message() << "); abandoning it";
      lost->store(true);
      cancel->store(true);
    } else {
      // Keep training: the scheduler may be restarting, and the lease has
      // time left. The next heartbeat tries again.
      LOG(WARNING) << "heartbeat for job " << lease.job_id
                   << " failed: " << s.error_message();
    }
  }
}

void Worker::Impl::Finish(Slot& slot, const ActiveLease& lease,
                          const absl::StatusOr<v1::JobResult>& result,
                          bool lost, bool cancelled_by_user) {
  if (lost) return;  // another worker owns the job now
  // Results are retried through scheduler restarts for up to two lease
  // periods: a finished job is worth waiting for.
  const absl::Time give_up =
      absl::Now() + absl::Seconds(2 * slot.lease_seconds + 10);
  ResetBackoff(slot);
  for (;;) {
    std::unique_ptr<grpc::ClientContext> ctx =
        Context(std::chrono::seconds(10));
    grpc::Status s;
    if (result.ok()) {
      v1::CompleteJobRequest request;
      request.set_worker_id(slot.worker_id);
      request.set_job_id(lease.job_id);
      request.set_lease_token(lease.token);
      *request.mutable_result() = *result;
      v1::CompleteJobResponse response;
      s = stub_->CompleteJob(ctx.get(), request, &response);
    } else {
      v1::FailJobRequest request;
      request.set_worker_id(slot.worker_id);
      request.set_job_id(lease.job_id);
      request.set_lease_token(lease.token);
      const bool release =
          result.status().code() == absl::StatusCode::kCancelled &&
          !cancelled_by_user;
      request.set_release(release);
      request.set_error(std::string(result.status().message()));
      v1::FailJobResponse response;
      s = stub_->FailJob(ctx.get(), request, &response);
    }
    if (s.ok()) {
      if (result.ok()) {
        LOG(INFO) << "job " << lease.job_id << " done: forgetting "
                  << result->metrics().at("forgetting") << " in "
                  << result->total_seconds() << " s";
      } else {
        LOG(INFO) << "job " << lease.job_id << " ended: " << result.status();
      }
      return;
    }
    if (!IsTransient(s) || absl::Now() > give_up) {
      LOG(ERROR) << "job " << lease.job_id
                 << ": the scheduler refused the outcome: "
                 << s.error_message();
      return;
    }
    // Stop() interrupts the sleep, but the outcome is still worth sending.
    LOG_EVERY_N(WARNING, 5) << "reporting job " << lease.job_id
                            << " failed: " << s.error_message() << "; retrying";
    absl::SleepFor(slot.backoff);
    slot.backoff = std::min(slot.backoff * 2, options_.max_backoff);
  }
}

void Worker::Impl::RunLeasedJob(Slot& slot,
                                const v1::LeaseJobResponse& lease_response,
                                int threads,
                                const std::function<bool()>& cores) {
  const v1::Job& job = lease_response.job();
  const ActiveLease lease{job.job_id(), lease_response.lease_token()};
  std::string coordinates;
  for (const auto& [axis, value] : std::map<std::string, double>(
           job.axis_values().begin(), job.axis_values().end())) {
    absl::StrAppend(&coordinates, " ", axis, "=", value);
  }
  LOG(INFO) << "job " << job.job_id() << " (sweep " << job.sweep_id()
            << ", attempt " << job.attempt() << ", slot " << slot.index << ", "
            << threads << " thread" << (threads == 1 ? "" : "s")
            << "):" << coordinates;
  std::atomic<bool> cancel{false}, lost{false}, cancelled{false};
  absl::Notification done;
  {
    absl::MutexLock lock(&mu_);
    slot.progress = train::Progress{"load", 0, 0};
  }
  std::thread heartbeats(
      [&] { HeartbeatLoop(slot, lease, &cancel, &lost, &cancelled, &done); });
  // SIGTERM must stop training promptly even between heartbeats.
  std::thread stop_watch([&] {
    while (!done.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
      if (stopping()) {
        cancel.store(true);
        return;
      }
    }
  });
  train::RunOptions options;
  options.device = options_.device;
  options.threads = threads;
  options.checkpoint_dir = options_.checkpoint_dir;
  options.cancel = &cancel;
  options.on_progress = [this, &slot](const train::Progress& p) {
    Touch();
    absl::MutexLock lock(&mu_);
    slot.progress = p;
  };
  SetCurrentJob(slot, job.sweep_id(), std::to_string(job.job_id()));
  absl::Status data_ok =
      CheckDataRoots(job.spec().data().path(), options_.data_roots);
  absl::StatusOr<v1::JobResult> result =
      !data_ok.ok() ? absl::StatusOr<v1::JobResult>(data_ok)
      : !cores()    ? absl::StatusOr<v1::JobResult>(
                       absl::CancelledError("worker stopping"))
                 : RunJob(job.spec(), options);
  done.Notify();
  heartbeats.join();
  stop_watch.join();
  Finish(slot, lease, result, lost.load(), cancelled.load());
  CountJob(slot,
           lost.load()        ? "lost"
           : result.ok()      ? "succeeded"
           : cancelled.load() ? "cancelled"
           : result.status().code() == absl::StatusCode::kCancelled ? "released"
                                                                    : "failed",
           result);
}

// The job outcomes forgetlab_worker_jobs_total counts.
constexpr const char* kOutcomes[] = {"succeeded", "failed", "cancelled",
                                     "released", "lost"};

void Worker::Impl::SetCurrentJob(Slot& slot, const std::string& sweep_id,
                                 const std::string& job_id) {
  {
    absl::MutexLock lock(&mu_);
    slot.sweep_id = sweep_id;
    slot.job_id = job_id;
  }
  PublishCurrentJobs();
}

void Worker::Impl::PublishCurrentJobs() {
  std::vector<std::pair<metrics::Labels, double>> series;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& s : slots_) {
      if (s->job_id.empty()) continue;
      series.push_back({{{"slot", std::to_string(s->index)},
                         {"sweep_id", s->sweep_id},
                         {"job_id", s->job_id}},
                        1});
    }
  }
  if (series.empty()) series.push_back({{{"sweep_id", ""}, {"job_id", ""}}, 0});
  metrics_.SetInfoSeries(
      "forgetlab_worker_current_job",
      "1 with the slot, sweep and job of each job this worker trains; one "
      "series, 0 with empty labels, while idle.",
      series);
}

metrics::Counter* Worker::Impl::JobsCounter(const std::string& outcome) {
  return metrics_.GetCounter(
      "forgetlab_worker_jobs_total",
      "Jobs this worker ended, by outcome (succeeded, failed, cancelled by "
      "the user, released on shutdown, lost lease).",
      {{"outcome", outcome}});
}

void Worker::Impl::CountJob(Slot& slot, const std::string& outcome,
                            const absl::StatusOr<v1::JobResult>& result) {
  JobsCounter(outcome)->Add();
  if (result.ok()) {
    samples_total_->Add(
        result->samples_per_second() *
        (result->pretrain_seconds() + result->finetune_seconds()));
    job_seconds_total_->Add(result->total_seconds());
    samples_per_second_->Set(result->samples_per_second());
  }
  SetCurrentJob(slot, "", "");
  absl::MutexLock lock(&mu_);
  slot.progress = train::Progress{};
}

absl::Status Worker::Impl::StartEndpoints() {
  // Every series exists from the start, at 0, so dashboards and rate() see
  // the first job.
  for (const char* outcome : kOutcomes) JobsCounter(outcome);
  PublishCurrentJobs();
  samples_total_ =
      metrics_.GetCounter("forgetlab_worker_samples_total",
                          "Training samples of the jobs this worker finished.");
  job_seconds_total_ =
      metrics_.GetCounter("forgetlab_worker_job_seconds_total",
                          "Wall time of the jobs this worker finished.");
  samples_per_second_ = metrics_.GetGauge(
      "forgetlab_worker_samples_per_second",
      "Training throughput (samples/s) of the last job this worker finished.");
  if (!options_.metrics_listen.empty()) {
    metrics_.SetInfo(
        "forgetlab_worker_info",
        "This worker's device, slots, threads per job (0: picked per job) "
        "and host.",
        {{"device", options_.device},
         {"slots", std::to_string(plan_.slots)},
         {"threads", std::to_string(plan_.threads)},
         {"host", options_.host}});
    metrics::Gauge* busy = metrics_.GetGauge(
        "forgetlab_worker_busy", "Slots training a job now (0 when idle).");
    metrics::Gauge* connected = metrics_.GetGauge(
        "forgetlab_worker_connected",
        "1 while the scheduler answers this worker's calls, else 0.");
    std::vector<metrics::Gauge*> progress;
    for (const auto& slot : slots_) {
      progress.push_back(metrics_.GetGauge(
          "forgetlab_worker_current_job_progress",
          "Steps done over total steps of each slot's job (0 when idle).",
          {{"slot", std::to_string(slot->index)}}));
    }
    metrics_.AddCollector([this, progress, busy, connected] {
      connected->Set(connected_.load() ? 1 : 0);
      absl::MutexLock lock(&mu_);
      int training = 0;
      for (size_t i = 0; i < slots_.size(); ++i) {
        const train::Progress& p = slots_[i]->progress;
        training += p.phase.empty() ? 0 : 1;
        progress[i]->Set(p.total_steps > 0
                             ? static_cast<double>(p.step) /
                                   static_cast<double>(p.total_steps)
                             : 0);
      }
      busy->Set(training);
    });
    absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> server =
        metrics::MetricsServer::Start(options_.metrics_listen, &metrics_);
    if (!server.ok()) return server.status();
    metrics_server_ = *std::move(server);
    metrics_port_ = metrics_server_->port();
    LOG(INFO) << "metrics on port " << metrics_port_ << " at /metrics";
  }
  if (!options_.health_listen.empty()) {
    int port = 0;
    absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartHealthServer(
        options_.health_listen, "--health_listen", &health_, &port);
    if (!server.ok()) return server.status();
    health_server_ = *std::move(server);
    health_port_ = port;
    LOG(INFO) << "gRPC health service on port " << port;
  }
  return absl::OkStatus();
}

absl::Status Worker::Impl::Run() {
  absl::StatusOr<SlotPlan> plan =
      PlanSlots(options_.slots, options_.threads, options_.device,
                train::AvailableCpus());
  if (!plan.ok()) return plan.status();
  plan_ = *plan;
  if (plan_.cores > 0) budget_ = std::make_unique<CoreBudget>(plan_.cores);
  LOG(INFO) << plan_.slots << " slot" << (plan_.slots == 1 ? "" : "s")
            << ", each job on "
            << (plan_.threads > 0
                    ? absl::StrCat(plan_.threads, " intra-op thread",
                                   plan_.threads == 1 ? "" : "s")
                    : absl::StrCat("1 intra-op thread, or all ", plan_.cores,
                                   " cores when large"));
  const std::string blas = train::BlasLibrary();
  LOG(INFO) << "BLAS: " << (blas.empty() ? "unknown" : blas);
  if (!blas.empty() && blas.find("openblas") == std::string::npos) {
    LOG(WARNING) << "LibTorch uses " << blas
                 << ", not OpenBLAS; training will be several times slower. "
                    "Install libopenblas0-openmp (deploy/install-deps.sh).";
  }
  if (options_.device != "cpu" && !train::CudaAvailable()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--device=", options_.device,
        " but this LibTorch build sees no CUDA device; use --device=cpu"));
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(
      {options_.scheduler, options_.ca_cert_file, options_.client_cert_file,
       options_.client_key_file, options_.tls_server_name});
  if (!channel.ok()) return channel.status();
  channel_ = *channel;
  stub_ = v1::WorkerService::NewStub(channel_);
  {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < plan_.slots; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->index = i;
      slot->host = plan_.slots > 1 ? absl::StrCat(options_.host, "/slot", i)
                                   : options_.host;
      slot->backoff = options_.min_backoff;
      slots_.push_back(std::move(slot));
    }
  }
  absl::Status endpoints = StartEndpoints();
  if (!endpoints.ok()) return endpoints;
  std::vector<std::thread> threads;
  for (const auto& slot : slots_) {
    threads.emplace_back([this, s = slot.get()] { SlotLoop(*s); });
  }
  for (std::thread& t : threads) t.join();
  LOG(INFO) << "worker stopped";
  if (health_server_ != nullptr) {
    health_server_->Shutdown(In(std::chrono::seconds(1)));
  }
  metrics_server_.reset();
  absl::MutexLock lock(&mu_);
  return fatal_;
}

void Worker::Impl::SlotLoop(Slot& slot) {
  if (!Register(slot)) return;
  while (!stopping()) {
    // max_jobs counts jobs over every slot: take a ticket before leasing.
    if (options_.max_jobs > 0 &&
        jobs_started_.fetch_add(1) >= options_.max_jobs) {
      break;
    }
    if (budget_ != nullptr && !budget_->Acquire(1, false, stop_)) break;
    v1::LeaseJobResponse lease;
    const bool leased = Lease(slot, &lease);
    Touch();
    if (!leased) {
      if (budget_ != nullptr) budget_->Release(1);
      if (options_.max_jobs > 0) jobs_started_.fetch_sub(1);
      continue;
    }
    const int threads = JobThreads(plan_, lease.job().spec());
    int held = budget_ != nullptr ? 1 : 0;
    // A large job gives its core back and waits for all of them at once.
    auto cores = [&] {
      if (budget_ == nullptr || threads <= 1) return true;
      budget_->Release(held);
      held = 0;
      if (!budget_->Acquire(threads, true, stop_)) return false;
      held = threads;
      return true;
    };
    RunLeasedJob(slot, lease, threads, cores);
    if (budget_ != nullptr && held > 0) budget_->Release(held);
  }
}

Worker::Worker(Options options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
Worker::~Worker() = default;
absl::Status Worker::Run() { return impl_->Run(); }
void Worker::Stop() { impl_->Stop(); }
int Worker::metrics_port() const { return impl_->metrics_port(); }
int Worker::health_port() const { return impl_->health_port(); }
int64_t Worker::scheduler_failures() const {
  return impl_->scheduler_failures();
}

}  // namespace forgetlab
