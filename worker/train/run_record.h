// What every trainer of worker/train records the same way: wall time, the
// deferred check for non-finite losses, and a finished run's facts. Internal
// (includes LibTorch).
#ifndef FORGETLAB_WORKER_TRAIN_RUN_RECORD_H_
#define FORGETLAB_WORKER_TRAIN_RUN_RECORD_H_

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "worker/train/experiment.h"

namespace forgetlab::train {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A phase's step losses, checked for NaN in batches, so that a GPU is not
// waited on every step; the failing step is still named exactly.
class LossCheck {
 public:
  explicit LossCheck(std::string phase) : phase_(std::move(phase)) {}

  void Add(const torch::Tensor& loss) { losses_.push_back(loss.detach()); }

  // kFailedPrecondition "non-finite loss at <phase> step <s>" for the first
  // non-finite loss added since the last call; then forgets them.
  TrainStatus Check();

 private:
  std::string phase_;
  std::vector<torch::Tensor> losses_;
  int first_unchecked_ = 1;  // the step of losses_[0]
};

// Fills a finished run's parameter count, device, threads, total time (from
// `start`) and training samples per second (over pretrain_seconds plus
// finetune_seconds).
void RecordRun(int64_t parameters, const torch::Device& device,
               Clock::time_point start, int64_t samples,
               ExperimentResult* result);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_RUN_RECORD_H_
