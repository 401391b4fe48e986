// Slots, threads and the shared cores.
#include "worker/core_budget.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/spec/cost.h"

namespace forgetlab {

absl::StatusOr<SlotPlan> PlanSlots(const std::string& slots, int threads,
                                   const std::string& device, int cores) {
  cores = std::max(1, cores);
  SlotPlan plan;
  const bool gpu = device != "cpu";
  if (slots == "auto") {
    if (gpu) {
      plan.slots = kGpuMaxSlots;
      plan.occupancy = true;
      plan.threads = threads > 0 ? threads : std::max(1, cores / plan.slots);
    } else if (threads > 0) {
      plan.slots = std::max(1, cores / threads);
      plan.threads = threads;
    } else {
      plan.slots = cores;
      plan.cores = cores;  // threads per job by JobThreads
    }
    return plan;
  }
  int k = 0;
  if (!absl::SimpleAtoi(slots, &k) || k < 1 || k > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--slots=", slots, " is not \"auto\" or a count from 1 to 256"));
  }
  plan.slots = k;
  plan.threads = threads > 0 ? threads : std::max(1, cores / k);
  return plan;
}

int JobThreads(const SlotPlan& plan, const v1::ExperimentSpec& resolved) {
  if (plan.threads > 0) return plan.threads;
  int64_t steps = int64_t{resolved.tasks_size()} * resolved.finetune().steps();
  if (resolved.pretrain().examples() > 0) steps += resolved.pretrain().steps();
  const double step_flops =
      steps > 0 ? 6.0 * static_cast<double>(EstimateParameterCount(resolved)) *
                      static_cast<double>(TrainingSamples(resolved)) /
                      static_cast<double>(steps)
                : 0;
  return step_flops >= kLargeStepFlops ? plan.cores : 1;
}

int64_t Budget::Acquire(int64_t n, bool large, const absl::Notification& stop) {
  n = std::clamp<int64_t>(n, 0, capacity_);
  absl::MutexLock lock(&mu_);
  if (large) ++large_waiting_;
  auto ready = [this, n, large]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return free_ >= n && (large || large_waiting_ == 0);
  };
  while (!ready()) {
    mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100));
    if (stop.HasBeenNotified() && !ready()) {
      if (large) --large_waiting_;
      return -1;
    }
  }
  if (large) --large_waiting_;
  free_ -= n;
  return n;
}

void Budget::Release(int64_t n) {
  absl::MutexLock lock(&mu_);
  free_ += n;
}

}  // namespace forgetlab
