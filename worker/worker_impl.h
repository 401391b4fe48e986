// Worker::Impl, shared by the files that implement it: worker.cc (the pull
// loops, one per slot) and worker_metrics.cc (metrics and health).
#ifndef FORGETLAB_WORKER_WORKER_IMPL_H_
#define FORGETLAB_WORKER_WORKER_IMPL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "proto/net/channel.h"
#include "proto/net/health.h"
#include "proto/net/prometheus.h"
#include "worker/artifact_client.h"
#include "worker/core_budget.h"
#include "worker/gpu_occupancy.h"
#include "worker/train/experiment.h"
#include "worker/worker.h"

namespace forgetlab {
namespace worker_internal {

template <typename Duration>
std::chrono::system_clock::time_point In(Duration d) {
  return std::chrono::system_clock::now() + d;
}

}  // namespace worker_internal

class Worker::Impl {
 public:
  // Fills in the host and the datasets the options leave empty.
  explicit Impl(Options options);

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
    std::string worker_id;  // empty until registered
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
    ctx->set_deadline(worker_internal::In(timeout));
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
  // Runs the job on `threads` threads; `resources` waits for the cores or
  // device memory it needs (heartbeats go on meanwhile) and returns false
  // when the worker stops.
  void RunLeasedJob(Slot& slot, const v1::LeaseJobResponse& lease, int threads,
                    const std::function<bool()>& resources);
  // --slots=auto on a GPU: the occupancy and memory budgets from the device.
  void StartOccupancy();
  // Trains the leased job by its kind: a pretraining job uploads its
  // weights; an experiment that shares pretraining loads them first, or,
  // with `upload_pretraining`, pretrains itself and uploads them.
  // *settled: the server already knows how the job ended (uploaded, or
  // handed back to wait for its artifact); nothing is to be reported.
  absl::StatusOr<v1::JobResult> RunByKind(Slot& slot, const ActiveLease& lease,
                                          const v1::Job& job,
                                          bool upload_pretraining,
                                          train::RunOptions options,
                                          bool* settled);
  // Uploads a pretrained weights file, retrying through a scheduler restart
  // for two lease periods; removes the file.
  absl::Status UploadWeights(Slot& slot, const ActiveLease& lease,
                             const v1::Job& job, const std::string& path,
                             const std::string& device, int threads);
  void HeartbeatLoop(Slot& slot, const ActiveLease& lease,
                     std::atomic<bool>* cancel, std::atomic<bool>* lost,
                     std::atomic<bool>* cancelled, absl::Notification* done);
  void Finish(Slot& slot, const ActiveLease& lease,
              const absl::StatusOr<v1::JobResult>& result, bool lost,
              bool cancelled_by_user);

  Options options_;
  SlotPlan plan_;
  std::unique_ptr<Budget> cores_;         // --slots=auto on a CPU
  std::unique_ptr<Occupancy> occupancy_;  // --slots=auto on a GPU
  std::unique_ptr<Budget> memory_;  // its device memory, when known (bytes)
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<int> jobs_started_{0};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::unique_ptr<ArtifactClient> artifacts_;
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

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_WORKER_IMPL_H_
