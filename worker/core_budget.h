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
// --slots=auto on a GPU: jobs at once on one device.
inline constexpr int kGpuAutoSlots = 4;

// What --slots, --threads and --device resolve to.
struct SlotPlan {
  int slots = 1;
  // Threads of every job; 0: per job, by the auto rule (JobThreads).
  int threads = 0;
  // The cores the jobs share; 0: no budget (the threads are the user's).
  int cores = 0;
};

// `slots` is "auto" or a count >= 1; `threads` 0 means "pick". INVALID_ARGUMENT
// naming --slots for anything else.
absl::StatusOr<SlotPlan> PlanSlots(const std::string& slots, int threads,
                                   const std::string& device, int cores);

// The threads a job trains on under `plan`.
int JobThreads(const SlotPlan& plan, const v1::ExperimentSpec& resolved);

// The cores a worker's slots share (--slots=auto on a CPU). A slot holds one
// core while it leases and trains a small job; for a large job it gives its
// core back and waits for every core at once (so two large jobs cannot each
// hold a part). While a large job waits, no slot takes a core for a new
// lease, so it gets every core as soon as the jobs running finish.
class CoreBudget {
 public:
  explicit CoreBudget(int cores) : free_(cores) {}

  // Blocks until `n` cores are free (and, unless `large`, no large job
  // waits); false, holding none, once `stop` is notified.
  bool Acquire(int n, bool large, const absl::Notification& stop);
  void Release(int n);

 private:
  absl::Mutex mu_;
  int free_ ABSL_GUARDED_BY(mu_);
  int large_waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_CORE_BUDGET_H_
