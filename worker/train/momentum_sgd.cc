// SGD with momentum through _foreach calls.
#include "worker/train/momentum_sgd.h"

namespace forgetlab::train {

void MomentumSgd::Step() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (const torch::Tensor& p : params_) {
    if (!p.grad().defined()) break;
    grads.push_back(p.grad());
  }
  if (grads.size() == params_.size() && (momentum_ == 0 || started_)) {
    if (momentum_ == 0) {
      at::_foreach_add_(params_, grads, -lr_);
      return;
    }
    at::_foreach_mul_(buffers_, momentum_);
    at::_foreach_add_(buffers_, grads);
    at::_foreach_add_(params_, buffers_, -lr_);
    return;
  }
  // The first step, or some parameter has no gradient: one at a time.
  bool all_buffers = true;
  for (size_t i = 0; i < params_.size(); ++i) {
    const torch::Tensor& grad = params_[i].grad();
    if (grad.defined()) {
      if (momentum_ == 0) {
        params_[i].add_(grad, -lr_);
        continue;
      }
      if (buffers_[i].defined()) {
        buffers_[i].mul_(momentum_).add_(grad);
      } else {
        buffers_[i] = grad.clone();
      }
      params_[i].add_(buffers_[i], -lr_);
    }
    all_buffers = all_buffers && buffers_[i].defined();
  }
  started_ = all_buffers;
}

}  // namespace forgetlab::train
