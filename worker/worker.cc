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

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "proto/net/channel.h"
#include "proto/net/health.h"
#include "proto/net/prometheus.h"
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
    if (poll_context_ != nullptr) poll_context_->TryCancel();
  }

 private:
  struct ActiveLease {
    int64_t job_id = 0;
    std::string token;
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
  // Counts a finished job by outcome and clears the current job.
  void CountJob(const std::string& outcome,
                const absl::StatusOr<v1::JobResult>& result);
  metrics::Counter* JobsCounter(const std::string& outcome);
  // Sets forgetlab_worker_current_job; empty ids: idle.
  void SetCurrentJob(const std::string& sweep_id, const std::string& job_id);

  // Sleeps for the current backoff (interrupted by Stop) and doubles it.
  void Backoff(const std::string& why) {
    SetConnected(false);
    scheduler_failures_.fetch_add(1, std::memory_order_relaxed);
    LOG_EVERY_N(WARNING, 5)
        << why << "; retrying in " << absl::FormatDuration(backoff_);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    stop_.WaitForNotificationWithTimeout(backoff_ * jitter(rng_));
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  }
  void ResetBackoff() { backoff_ = options_.min_backoff; }

  bool Register();
  // Returns true with a lease filled in, false when none (or stopping).
  bool Lease(v1::LeaseJobResponse* lease);
  void RunLeasedJob(const v1::LeaseJobResponse& lease);
  void HeartbeatLoop(const ActiveLease& lease, std::atomic<bool>* cancel,
                     std::atomic<bool>* lost, std::atomic<bool>* cancelled,
                     absl::Notification* done);
  void Finish(const ActiveLease& lease,
              const absl::StatusOr<v1::JobResult>& result, bool lost,
              bool cancelled_by_user);

  Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::string worker_id_;
  int lease_seconds_ = 60;
  absl::Duration backoff_ = absl::Milliseconds(200);
  std::mt19937 rng_{std::random_device{}()};
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
  grpc::ClientContext* poll_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  train::Progress progress_ ABSL_GUARDED_BY(mu_);
};

bool Worker::Impl::Register() {
  ResetBackoff();
  while (!stopping()) {
    std::unique_ptr<grpc::ClientContext> ctx =
        Context(std::chrono::seconds(10));
    v1::RegisterWorkerRequest request;
    request.set_host(options_.host);
    request.set_device(options_.device);
    request.set_threads(options_.threads);
    for (const std::string& d : options_.datasets) request.add_datasets(d);
    v1::RegisterWorkerResponse response;
    grpc::Status s = stub_->RegisterWorker(ctx.get(), request, &response);
    if (IsAuthError(s)) {
      Fatal(s);
      return false;
    }
    if (s.ok()) {
      SetConnected(true);
      worker_id_ = response.worker_id();
      lease_seconds_ = std::max(1, response.lease_seconds());
      LOG(INFO) << "registered with " << options_.scheduler << " as "
                << worker_id_ << " (lease " << lease_seconds_ << " s, datasets "
                << absl::StrJoin(options_.datasets, ",") << ")";
      ResetBackoff();
      return true;
    }
    Backoff(absl::StrCat("cannot register with scheduler ", options_.scheduler,
                         ": ", s.error_message()));
  }
  return false;
}

bool Worker::Impl::Lease(v1::LeaseJobResponse* lease) {
  std::unique_ptr<grpc::ClientContext> ctx =
      Context(std::chrono::seconds(options_.wait_seconds + 15));
  {
    absl::MutexLock lock(&mu_);
    if (stopping()) return false;
    poll_context_ = ctx.get();
  }
  v1::LeaseJobRequest request;
  request.set_worker_id(worker_id_);
  request.set_wait_seconds(options_.wait_seconds);
  grpc::Status s = stub_->LeaseJob(ctx.get(), request, lease);
  {
    absl::MutexLock lock(&mu_);
    poll_context_ = nullptr;
  }
  if (stopping()) {
    // A lease granted just as we stopped must not wait for its deadline.
    if (s.ok() && lease->has_job()) {
      Finish({lease->job().job_id(), lease->lease_token()},
             absl::CancelledError("worker stopping"), false, false);
    }
    return false;
  }
  if (s.ok()) {
    SetConnected(true);
    ResetBackoff();
    return lease->has_job();
  }
  if (IsAuthError(s)) {
    Fatal(s);
    return false;
  }
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    // The scheduler does not know us (e.g. a fresh database): register anew.
    LOG(WARNING) << s.error_message();
    Register();
    return false;
  }
  Backoff(absl::StrCat("lease from ", options_.scheduler,
                       " failed: ", s.error_message()));
  return false;
}

void Worker::Impl::HeartbeatLoop(const ActiveLease& lease,
                                 std::atomic<bool>* cancel,
                                 std::atomic<bool>* lost,
                                 std::atomic<bool>* cancelled,
                                 absl::Notification* done) {
  const absl::Duration interval = std::clamp(
      absl::Seconds(lease_seconds_) / 4, absl::Seconds(1), absl::Seconds(10));
  absl::Duration wait = absl::Seconds(1);  // first report soon after start
  for (;;) {
    if (done->WaitForNotificationWithTimeout(wait)) return;
    wait = interval;
    if (stopping()) cancel->store(true);
    std::unique_ptr<grpc::ClientContext> ctx = Context(std::chrono::seconds(5));
    v1::HeartbeatRequest request;
    request.set_worker_id(worker_id_);
    request.set_job_id(lease.job_id);
    request.set_lease_token(lease.token);
    {
      absl::MutexLock lock(&mu_);
      request.mutable_progress()->set_phase(progress_.phase);
      request.mutable_progress()->set_step(progress_.step);
      request.mutable_progress()->set_total_steps(progress_.total_steps);
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

void Worker::Impl::Finish(const ActiveLease& lease,
                          const absl::StatusOr<v1::JobResult>& result,
                          bool lost, bool cancelled_by_user) {
  if (lost) return;  // another worker owns the job now
  // Results are retried through scheduler restarts for up to two lease
  // periods: a finished job is worth waiting for.
  const absl::Time give_up =
      absl::Now() + absl::Seconds(2 * lease_seconds_ + 10);
  ResetBackoff();
  for (;;) {
    std::unique_ptr<grpc::ClientContext> ctx =
        Context(std::chrono::seconds(10));
    grpc::Status s;
    if (result.ok()) {
      v1::CompleteJobRequest request;
      request.set_worker_id(worker_id_);
      request.set_job_id(lease.job_id);
      request.set_lease_token(lease.token);
      *request.mutable_result() = *result;
      v1::CompleteJobResponse response;
      s = stub_->CompleteJob(ctx.get(), request, &response);
    } else {
      v1::FailJobRequest request;
      request.set_worker_id(worker_id_);
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
    absl::SleepFor(backoff_);
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  }
}

void Worker::Impl::RunLeasedJob(const v1::LeaseJobResponse& lease_response) {
  const v1::Job& job = lease_response.job();
  const ActiveLease lease{job.job_id(), lease_response.lease_token()};
  std::string coordinates;
  for (const auto& [axis, value] : std::map<std::string, double>(
           job.axis_values().begin(), job.axis_values().end())) {
    absl::StrAppend(&coordinates, " ", axis, "=", value);
  }
  LOG(INFO) << "job " << job.job_id() << " (sweep " << job.sweep_id()
            << ", attempt " << job.attempt() << "):" << coordinates;
  std::atomic<bool> cancel{false}, lost{false}, cancelled{false};
  absl::Notification done;
  {
    absl::MutexLock lock(&mu_);
    progress_ = train::Progress{"load", 0, 0};
  }
  std::thread heartbeats(
      [&] { HeartbeatLoop(lease, &cancel, &lost, &cancelled, &done); });
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
  options.threads = options_.threads;
  options.checkpoint_dir = options_.checkpoint_dir;
  options.cancel = &cancel;
  options.on_progress = [this](const train::Progress& p) {
    Touch();
    absl::MutexLock lock(&mu_);
    progress_ = p;
  };
  SetCurrentJob(job.sweep_id(), std::to_string(job.job_id()));
  absl::Status data_ok =
      CheckDataRoots(job.spec().data().path(), options_.data_roots);
  absl::StatusOr<v1::JobResult> result =
      data_ok.ok() ? RunJob(job.spec(), options)
                   : absl::StatusOr<v1::JobResult>(data_ok);
  done.Notify();
  heartbeats.join();
  stop_watch.join();
  Finish(lease, result, lost.load(), cancelled.load());
  CountJob(lost.load()        ? "lost"
           : result.ok()      ? "succeeded"
           : cancelled.load() ? "cancelled"
           : result.status().code() == absl::StatusCode::kCancelled ? "released"
                                                                    : "failed",
           result);
}

// The job outcomes forgetlab_worker_jobs_total counts.
constexpr const char* kOutcomes[] = {"succeeded", "failed", "cancelled",
                                     "released", "lost"};

void Worker::Impl::SetCurrentJob(const std::string& sweep_id,
                                 const std::string& job_id) {
  metrics_.SetInfo("forgetlab_worker_current_job",
                   "1 with the sweep and job this worker trains; 0 with "
                   "empty labels while idle.",
                   {{"sweep_id", sweep_id}, {"job_id", job_id}},
                   job_id.empty() ? 0 : 1);
}

metrics::Counter* Worker::Impl::JobsCounter(const std::string& outcome) {
  return metrics_.GetCounter(
      "forgetlab_worker_jobs_total",
      "Jobs this worker ended, by outcome (succeeded, failed, cancelled by "
      "the user, released on shutdown, lost lease).",
      {{"outcome", outcome}});
}

void Worker::Impl::CountJob(const std::string& outcome,
                            const absl::StatusOr<v1::JobResult>& result) {
  JobsCounter(outcome)->Add();
  if (result.ok()) {
    samples_total_->Add(
        result->samples_per_second() *
        (result->pretrain_seconds() + result->finetune_seconds()));
    job_seconds_total_->Add(result->total_seconds());
    samples_per_second_->Set(result->samples_per_second());
  }
  SetCurrentJob("", "");
  absl::MutexLock lock(&mu_);
  progress_ = train::Progress{};
}

absl::Status Worker::Impl::StartEndpoints() {
  // Every series exists from the start, at 0, so dashboards and rate() see
  // the first job.
  for (const char* outcome : kOutcomes) JobsCounter(outcome);
  SetCurrentJob("", "");
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
    metrics_.SetInfo("forgetlab_worker_info",
                     "This worker's device, threads and host.",
                     {{"device", options_.device},
                      {"threads", std::to_string(options_.threads)},
                      {"host", options_.host}});
    metrics::Gauge* progress = metrics_.GetGauge(
        "forgetlab_worker_current_job_progress",
        "Steps done over total steps of the current job (0 when idle).");
    metrics::Gauge* busy = metrics_.GetGauge("forgetlab_worker_busy",
                                             "1 while training a job, else 0.");
    metrics::Gauge* connected = metrics_.GetGauge(
        "forgetlab_worker_connected",
        "1 while the scheduler answers this worker's calls, else 0.");
    metrics_.AddCollector([this, progress, busy, connected] {
      connected->Set(connected_.load() ? 1 : 0);
      absl::MutexLock lock(&mu_);
      busy->Set(progress_.phase.empty() ? 0 : 1);
      progress->Set(progress_.total_steps > 0
                        ? static_cast<double>(progress_.step) /
                              static_cast<double>(progress_.total_steps)
                        : 0);
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
  LOG(INFO) << "training with "
            << (options_.threads > 0 ? std::to_string(options_.threads)
                                     : std::string("LibTorch's default"))
            << " intra-op threads";
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
  absl::Status endpoints = StartEndpoints();
  if (!endpoints.ok()) return endpoints;
  if (Register()) {
    int jobs = 0;
    while (!stopping()) {
      v1::LeaseJobResponse lease;
      const bool leased = Lease(&lease);
      Touch();
      if (!leased) continue;
      RunLeasedJob(lease);
      if (options_.max_jobs > 0 && ++jobs >= options_.max_jobs) break;
    }
    LOG(INFO) << "worker " << worker_id_ << " stopped";
  }
  if (health_server_ != nullptr) {
    health_server_->Shutdown(In(std::chrono::seconds(1)));
  }
  metrics_server_.reset();
  absl::MutexLock lock(&mu_);
  return fatal_;
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
