// How a worker fills the machine (--slots): how many jobs it runs at once,
// and on how many intra-op threads each job trains.
#ifndef FORGETLAB_WORKER_CORE_BUDGET_H_
#define FORGETLAB_WORKER_CORE_BUDGET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

// Jobs whose average training step costs at least this many FLOPs (6 x
// parameters x samples per step) are "large" for --slots=auto on a CPU: they
// train on every core, alone. Smaller ones train on one thread each, one per
// core. Measured in docs/PERFORMANCE.md ("Several jobs per worker").
inline constexpr double kLargeStepFlops = 2e9;
// --slots=auto on a GPU: the most jobs at once on one device. How many run
// is measured as they run (Occupancy, worker/gpu_occupancy.h) and bounded by
// the device memory their specs need (EstimateDeviceBytes).
inline constexpr int kGpuMaxSlots = 16;

// What --slots, --threads and --device resolve to.
struct SlotPlan {
  int slots = 1;
  // Threads of every job; 0: per job, by the auto rule (JobThreads).
  int threads = 0;
  // The cores the jobs share; 0: no budget (the threads are the user's).
  int cores = 0;
  // --slots=auto on a GPU: jobs at once by measured throughput and memory.
  bool occupancy = false;
};

// `slots` is "auto" or a count >= 1; `threads` 0 means "pick". INVALID_ARGUMENT
// naming --slots for anything else.
absl::StatusOr<SlotPlan> PlanSlots(const std::string& slots, int threads,
                                   const std::string& device, int cores);

// The threads a job trains on under `plan`.
int JobThreads(const SlotPlan& plan, const v1::ExperimentSpec& resolved);

// What a worker's slots share: the cores (--slots=auto on a CPU) or the
// device's memory in bytes (on a GPU).
//
// Cores: a slot holds one core while it leases and trains a small job; for
// a large job it gives its core back and waits for every core at once (so
// two large jobs cannot each hold a part). While a large job waits, no slot
// takes a core for a new lease, so it gets every core as soon as the jobs
// running finish.
//
// Bytes: every job waits as a large one for its estimate. A request above
// the whole capacity waits for all of it: such a job runs alone.
class Budget {
 public:
  explicit Budget(int64_t capacity) : capacity_(capacity), free_(capacity) {}

  // Blocks until `n` units (at most the capacity) are free and, unless
  // `large`, no large request waits; returns the units taken (release
  // those), or -1, holding none, once `stop` is notified.
  int64_t Acquire(int64_t n, bool large, const absl::Notification& stop);
  void Release(int64_t n);

  int64_t capacity() const { return capacity_; }

 private:
  const int64_t capacity_;
  absl::Mutex mu_;
  int64_t free_ ABSL_GUARDED_BY(mu_);
  int large_waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_CORE_BUDGET_H_
