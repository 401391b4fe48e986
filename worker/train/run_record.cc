// The loss check and a run's facts.
#include "worker/train/run_record.h"

#include <cmath>

namespace forgetlab::train {

TrainStatus LossCheck::Check() {
  if (losses_.empty()) return {};
  const torch::Tensor values =
      torch::stack(losses_).to(torch::kCPU, torch::kFloat64);
  const double* v = values.data_ptr<double>();
  for (size_t i = 0; i < losses_.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return {TrainCode::kFailedPrecondition,
              "non-finite loss at " + phase_ + " step " +
                  std::to_string(first_unchecked_ + static_cast<int>(i))};
    }
  }
  first_unchecked_ += static_cast<int>(losses_.size());
  losses_.clear();
  return {};
}

void RecordRun(int64_t parameters, const torch::Device& device,
               Clock::time_point start, int64_t samples,
               ExperimentResult* result) {
  result->parameter_count = parameters;
  result->device = device.str();
  result->threads = torch::get_num_threads();
  result->total_seconds = SecondsSince(start);
  const double train_seconds =
      result->pretrain_seconds + result->finetune_seconds;
  result->samples_per_second = train_seconds > 0 ? samples / train_seconds : 0;
}

}  // namespace forgetlab::train
