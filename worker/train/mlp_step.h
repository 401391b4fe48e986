// The forward and backward pass of an MLP without autograd, bit-identical to
// it.
#ifndef FORGETLAB_WORKER_TRAIN_MLP_STEP_H_
#define FORGETLAB_WORKER_TRAIN_MLP_STEP_H_

#include <torch/torch.h>

#include <vector>

namespace forgetlab::train {

// The forward and backward pass of an MLP body (Linear + ReLU layers) and a
// linear head under cross-entropy, without autograd. It makes the ATen calls
// autograd makes for this graph (addmm forward; log-softmax and NLL loss;
// their backward functions; grad.mm(W) for inputs, grad.t().mm(x) for
// weights, a sum over the batch for biases; threshold_backward for ReLU),
// so the gradients are bit-identical, but into buffers allocated once per
// phase, and with no graph to record and walk. At width 32 that is a third
// of the step.
class MlpStep {
 public:
  // Buffers for batches of `batch` rows are allocated here, once.
  MlpStep(std::vector<torch::nn::Linear> layers, torch::nn::Linear head,
          int64_t batch, const torch::TensorOptions& options);

  // Sets every parameter's .grad to this batch's gradient; returns the loss.
  torch::Tensor Run(const torch::Tensor& images, const torch::Tensor& labels);

 private:
  std::vector<torch::nn::Linear> layers_;
  torch::nn::Linear head_;
  std::vector<torch::Tensor> activations_, activation_grads_;
  torch::Tensor logits_, log_probs_, log_prob_grads_, logit_grads_;
  torch::Tensor one_, total_weight_;
  std::vector<torch::Tensor> params_, grads_;
};

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_MLP_STEP_H_
