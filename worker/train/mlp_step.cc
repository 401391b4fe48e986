// The hand-written MLP step: autograd's own ATen calls into buffers
// allocated once per phase.
#include "worker/train/mlp_step.h"

namespace forgetlab::train {

MlpStep::MlpStep(std::vector<torch::nn::Linear> layers, torch::nn::Linear head,
                 int64_t batch, const torch::TensorOptions& options)
    : layers_(std::move(layers)), head_(std::move(head)) {
  for (const torch::nn::Linear& layer : layers_) {
    const int64_t width = layer->weight.size(0);
    activations_.push_back(torch::empty({batch, width}, options));
    activation_grads_.push_back(torch::empty({batch, width}, options));
  }
  const int64_t classes = head_->weight.size(0);
  logits_ = torch::empty({batch, classes}, options);
  log_probs_ = torch::empty({batch, classes}, options);
  log_prob_grads_ = torch::empty({batch, classes}, options);
  logit_grads_ = torch::empty({batch, classes}, options);
  one_ = torch::ones({}, options);
  total_weight_ = torch::empty({}, options);
  for (const torch::nn::Linear& layer : layers_) {
    params_.push_back(layer->weight);
    params_.push_back(layer->bias);
  }
  params_.push_back(head_->weight);
  params_.push_back(head_->bias);
  for (const torch::Tensor& p : params_) {
    grads_.push_back(torch::empty_like(p));
  }
}

torch::Tensor MlpStep::Run(const torch::Tensor& images,
                           const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  const size_t n = layers_.size();
  torch::Tensor input = images;
  for (size_t i = 0; i < n; ++i) {
    at::addmm_out(activations_[i], layers_[i]->bias, input,
                  layers_[i]->weight.t());
    activations_[i].relu_();
    input = activations_[i];
  }
  at::addmm_out(logits_, head_->bias, input, head_->weight.t());
  at::_log_softmax_out(log_probs_, logits_, 1, /*half_to_float=*/false);
  torch::Tensor loss = torch::empty({}, logits_.options());
  at::nll_loss_forward_out(loss, total_weight_, log_probs_, labels, {},
                           at::Reduction::Mean, /*ignore_index=*/-100);
  at::nll_loss_backward_out(log_prob_grads_, one_, log_probs_, labels, {},
                            at::Reduction::Mean, -100, total_weight_);
  at::_log_softmax_backward_data_out(logit_grads_, log_prob_grads_, log_probs_,
                                     1, logits_.scalar_type());
  // Backward, from the head down: grads_ holds (weight, bias) per layer.
  torch::Tensor grad = logit_grads_;
  torch::Tensor weight = head_->weight;
  size_t g = grads_.size();
  for (size_t i = n + 1; i-- > 0;) {
    const torch::Tensor& below = i == 0 ? images : activations_[i - 1];
    at::mm_out(grads_[g - 2], grad.t(), below);
    at::sum_out(grads_[g - 1], grad, {0}, /*keepdim=*/false);
    g -= 2;
    if (i == 0) break;  // no gradient for the images
    torch::Tensor& below_grad = activation_grads_[i - 1];
    at::mm_out(below_grad, grad, weight);
    at::threshold_backward_out(below_grad, below_grad, below, 0);
    grad = below_grad;
    weight = layers_[i - 1]->weight;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    params_[i].mutable_grad() = grads_[i];
  }
  return loss;
}

}  // namespace forgetlab::train
