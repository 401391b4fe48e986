// SGD with momentum, bit-identical to torch::optim::SGD, one fused update
// per step.
#ifndef FORGETLAB_WORKER_TRAIN_MOMENTUM_SGD_H_
#define FORGETLAB_WORKER_TRAIN_MOMENTUM_SGD_H_

#include <torch/torch.h>

#include <vector>

namespace forgetlab::train {

// SGD with momentum as torch.optim.SGD computes it (no dampening, weight
// decay or Nesterov; the first step's buffer is the gradient itself), so the
// results are bit-identical to LibTorch's torch::optim::SGD. Each update is
// one _foreach call over every parameter: on a GPU that is a few fused
// kernels instead of three per parameter, and on a CPU it skips LibTorch's
// per-parameter state map, which is keyed by a string built every step.
class MomentumSgd {
 public:
  MomentumSgd(std::vector<torch::Tensor> params, double lr, double momentum)
      : params_(std::move(params)),
        buffers_(params_.size()),
        lr_(lr),
        momentum_(momentum) {}

  // Updates every parameter from its .grad.
  void Step();

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> buffers_;  // momentum, once the first step is done
  const double lr_;
  const double momentum_;
  bool started_ = false;
};

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_MOMENTUM_SGD_H_
