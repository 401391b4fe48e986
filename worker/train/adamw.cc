// AdamW and gradient clipping on _foreach kernels.
#include "worker/train/adamw.h"

#include <cmath>

namespace forgetlab::train {

AdamW::AdamW(std::vector<torch::Tensor> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : params_) {
    exp_avg_.push_back(torch::zeros_like(p));
    exp_avg_sq_.push_back(torch::zeros_like(p));
  }
}

void AdamW::Step(double lr) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (const torch::Tensor& p : params_) {
    grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  }
  ++step_;
  const double beta1 = options_.beta1, beta2 = options_.beta2;
  if (options_.weight_decay != 0) {
    at::_foreach_mul_(params_, 1 - lr * options_.weight_decay);
  }
  at::_foreach_mul_(exp_avg_, beta1);
  at::_foreach_add_(exp_avg_, grads, 1 - beta1);
  at::_foreach_mul_(exp_avg_sq_, beta2);
  at::_foreach_addcmul_(exp_avg_sq_, grads, grads, 1 - beta2);
  const double correction1 = 1 - std::pow(beta1, static_cast<double>(step_));
  const double correction2 = 1 - std::pow(beta2, static_cast<double>(step_));
  const double step_size = -(lr / correction1);
  std::vector<torch::Tensor> denom = at::_foreach_sqrt(exp_avg_sq_);
  at::_foreach_div_(denom, std::sqrt(correction2));
  at::_foreach_add_(denom, options_.eps);
  at::_foreach_addcdiv_(params_, exp_avg_, denom, step_size);
}

torch::Tensor ClipGradNorm(const std::vector<torch::Tensor>& params,
                           double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads, norms;
  for (const torch::Tensor& p : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    norms.push_back(torch::norm(p.grad(), 2));
  }
  if (grads.empty()) return torch::zeros({});
  const torch::Tensor total = torch::norm(torch::stack(norms), 2);
  const torch::Tensor coefficient =
      torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  for (torch::Tensor& g : grads) g.mul_(coefficient);
  return total;
}

}  // namespace forgetlab::train
