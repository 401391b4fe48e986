// SGD with momentum, bit-identical to torch::optim::SGD, one fused update
// per step.
#ifndef FORGETLAB_WORKER_TRAIN_MOMENTUM_SGD_H_
#define FORGETLAB_WORKER_TRAIN_MOMENTUM_SGD_H_

#include <torch/torch.h>

#include <vector>

namespace forgetlab::train {

// SGD with momentum as torch.optim.SGD computes it (no dampening, weight
// decay or Nesterov; the first step's buffer is the gradient itself), so the
// results are bit-identical to LibTorch's torch::optim::SGD. On a CPU with
// AVX2 and FMA each step is one pass over each parameter, its gradient and
// its buffer (three before: at width 512, 0.9 of 7.6 s a job went to the
// update, which is bound by memory). Elsewhere each update is one _foreach
// call over every parameter: on a GPU a few fused kernels instead of three
// per parameter. Both skip LibTorch's per-parameter state map, which is
// keyed by a string built every step.
class MomentumSgd {
 public:
  MomentumSgd(std::vector<torch::Tensor> params, double lr, double momentum)
      : params_(std::move(params)),
        buffers_(params_.size()),
        lr_(lr),
        momentum_(momentum) {}

  // Updates every parameter from its .grad.
  void Step();

  // Off: the _foreach calls even where the fused pass could run (for tests
  // that compare the two).
  void set_fused(bool fused) { fused_ = fused; }

 private:
  // The fused pass over every parameter; false (nothing done) where it
  // cannot run.
  bool FusedStep(const std::vector<torch::Tensor>& grads);

  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> buffers_;  // momentum, once the first step is done
  const double lr_;
  const double momentum_;
  bool started_ = false;
  bool fused_ = true;
};

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_MOMENTUM_SGD_H_
