// AdamW through _foreach calls, in the order of PyTorch's multi-tensor
// AdamW (torch.optim.AdamW(foreach=True)), plus global gradient-norm
// clipping as torch.nn.utils.clip_grad_norm_ computes it.
#ifndef FORGETLAB_WORKER_TRAIN_ADAMW_H_
#define FORGETLAB_WORKER_TRAIN_ADAMW_H_

#include <torch/torch.h>

#include <vector>

namespace forgetlab::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// One optimiser over every parameter: each step is a few _foreach calls,
// not a loop over parameters (like MomentumSgd).
class AdamW {
 public:
  AdamW(std::vector<torch::Tensor> params, AdamWOptions options);

  // Updates every parameter from its .grad with learning rate `lr` (the
  // caller applies the warm-up schedule).
  void Step(double lr);

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

// Scales the gradients of `params` so that their global 2-norm is at most
// `max_norm` (clip_grad_norm_'s formula: coefficient min(1, max_norm /
// (norm + 1e-6)), applied always). Returns the norm before clipping, as a
// 0-dim tensor (no device sync).
torch::Tensor ClipGradNorm(const std::vector<torch::Tensor>& params,
                           double max_norm);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_ADAMW_H_
