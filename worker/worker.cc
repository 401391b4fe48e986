// The worker's pull loops: registration, leasing, training with heartbeats
// and reporting, one loop per slot.
#include "worker/worker.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
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
#include "proto/spec/cost.h"
#include "worker/core_budget.h"
#include "worker/job_runner.h"
#include "worker/train/default_protocol.h"
#include "worker/train/experiment.h"
#include "worker/worker_impl.h"

namespace forgetlab {
namespace {

using worker_internal::In;

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

}  // namespace

Worker::Impl::Impl(Options options) : options_(std::move(options)) {
  if (options_.host.empty()) options_.host = HostName();
  if (options_.artifact_cache_dir.empty()) {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    const std::string base = xdg != nullptr && *xdg != '\0' ? std::string(xdg)
                             : home != nullptr && *home != '\0'
                                 ? absl::StrCat(home, "/.cache")
                                 : std::string("/tmp");
    options_.artifact_cache_dir = base + "/forgetlab/artifacts";
  }
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
  for (std::string& key : artifacts_->Held()) {
    request.add_artifacts(std::move(key));
  }
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
                                const std::function<bool()>& resources) {
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
  options.on_progress = [this, &slot, &job](const train::Progress& p) {
    Touch();
    int64_t steps = 0;
    {
      absl::MutexLock lock(&mu_);
      steps = p.step - slot.progress.step;
      slot.progress = p;
    }
    if (occupancy_ != nullptr && steps > 0 &&
        occupancy_->AddWork(steps * StepFlops(job.spec(), p.phase),
                            absl::Now())) {
      LOG(INFO) << "jobs at once: " << occupancy_->last_decision();
    }
  };
  SetCurrentJob(slot, job.sweep_id(), std::to_string(job.job_id()));
  absl::Status data_ok =
      CheckDataRoots(job.spec().data().path(), options_.data_roots);
  bool settled = false;
  absl::StatusOr<v1::JobResult> result =
      !data_ok.ok() ? absl::StatusOr<v1::JobResult>(data_ok)
      : !resources()
          ? absl::StatusOr<v1::JobResult>(
                absl::CancelledError("worker stopping"))
          : RunByKind(slot, lease, job, lease_response.upload_pretraining(),
                      options, &settled);
  done.Notify();
  heartbeats.join();
  stop_watch.join();
  if (!settled) Finish(slot, lease, result, lost.load(), cancelled.load());
  CountJob(slot,
           lost.load() || (settled && !result.ok()) ? "lost"
           : result.ok()                            ? "succeeded"
           : cancelled.load()                       ? "cancelled"
           : result.status().code() == absl::StatusCode::kCancelled ? "released"
                                                                    : "failed",
           result);
}

absl::Status Worker::Impl::Run() {
  const int cpus = train::AvailableCpus();
  absl::StatusOr<SlotPlan> plan =
      PlanSlots(options_.slots, options_.threads, options_.device, cpus);
  if (!plan.ok()) return plan.status();
  plan_ = *plan;
  if (plan_.cores > 0) cores_ = std::make_unique<Budget>(plan_.cores);
  LOG(INFO) << plan_.slots << " slot" << (plan_.slots == 1 ? "" : "s")
            << ", each job on "
            << (plan_.threads > 0
                    ? absl::StrCat(plan_.threads, " intra-op thread",
                                   plan_.threads == 1 ? "" : "s")
                : plan_.cores > 1
                    ? absl::StrCat("1 intra-op thread, or all ", plan_.cores,
                                   " cores when large")
                    : std::string("1 intra-op thread"))
            << " (" << cpus << " usable CPU" << (cpus == 1 ? "" : "s")
            << ": the affinity mask and any cgroup CPU quota)";
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
  if (plan_.occupancy) StartOccupancy();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(
      {options_.scheduler, options_.ca_cert_file, options_.client_cert_file,
       options_.client_key_file, options_.tls_server_name});
  if (!channel.ok()) return channel.status();
  channel_ = *channel;
  stub_ = v1::WorkerService::NewStub(channel_);
  artifacts_ = std::make_unique<ArtifactClient>(
      ArtifactClient::Options{options_.artifact_cache_dir,
                              options_.artifact_cache_bytes, options_.token,
                              options_.artifact_upload_bytes_per_second},
      channel_);
  if (absl::Status s = artifacts_->Init(); !s.ok()) return s;
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

void Worker::Impl::StartOccupancy() {
  Occupancy::Options options;
  options.max_jobs = plan_.slots;
  occupancy_ = std::make_unique<Occupancy>(options);
  int64_t free = 0, total = 0;
  if (train::DeviceMemory(options_.device, &free, &total)) {
    // A tenth stays free for the CUDA context's growth and other processes.
    memory_ = std::make_unique<Budget>(free / 10 * 9);
    LOG(INFO) << options_.device << ": " << (free >> 20) << " of "
              << (total >> 20) << " MiB free; jobs at once: up to "
              << plan_.slots << ", as their estimated memory fits in "
              << (memory_->capacity() >> 20)
              << " MiB and while more of them raise the throughput";
  } else {
    LOG(WARNING) << options_.device
                 << ": free memory unknown (no CUDA runtime symbols); jobs at "
                    "once: up to "
                 << plan_.slots << ", while more of them raise the throughput";
  }
}

void Worker::Impl::SlotLoop(Slot& slot) {
  while (!stopping()) {
    // max_jobs counts jobs over every slot: take a ticket before leasing.
    if (options_.max_jobs > 0 &&
        jobs_started_.fetch_add(1) >= options_.max_jobs) {
      break;
    }
    // On a CPU the slot holds a core while it leases; on a GPU it waits
    // until the measured occupancy lets one more job run.
    if (cores_ != nullptr && cores_->Acquire(1, false, stop_) < 0) break;
    if (occupancy_ != nullptr && !occupancy_->Enter(stop_)) break;
    bool training = false;  // holds its memory (GPU)
    auto release = [&](int64_t cores) {
      if (cores_ != nullptr && cores > 0) cores_->Release(cores);
      if (occupancy_ != nullptr) occupancy_->Leave(training);
    };
    // A slot registers when it first may lease: a GPU worker's slots that
    // the occupancy never admits do not show as idle workers.
    if (slot.worker_id.empty() && !Register(slot)) {
      release(1);
      break;
    }
    v1::LeaseJobResponse lease;
    const bool leased = Lease(slot, &lease);
    Touch();
    if (!leased) {
      release(1);
      if (options_.max_jobs > 0) jobs_started_.fetch_sub(1);
      continue;
    }
    const v1::ExperimentSpec& spec = lease.job().spec();
    const int threads = JobThreads(plan_, spec);
    int64_t cores = cores_ != nullptr ? 1 : 0, bytes = 0;
    auto resources = [&] {
      // A large job gives its core back and waits for all of them at once.
      if (cores_ != nullptr && threads > 1) {
        cores_->Release(cores);
        cores = cores_->Acquire(threads, true, stop_);
        if (cores < 0) return false;
      }
      if (memory_ != nullptr) {
        bytes = memory_->Acquire(EstimateDeviceBytes(spec), true, stop_);
        if (bytes < 0) return false;
      }
      if (occupancy_ != nullptr) occupancy_->Started();
      training = true;
      return true;
    };
    RunLeasedJob(slot, lease, threads, resources);
    if (memory_ != nullptr && bytes > 0) memory_->Release(bytes);
    release(cores);
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
