// The model families (bodies; task heads are plain Linear layers on top).
// Internal to worker/train (includes LibTorch).
#ifndef FORGETLAB_WORKER_TRAIN_MODELS_H_
#define FORGETLAB_WORKER_TRAIN_MODELS_H_

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "worker/train/experiment.h"

namespace forgetlab::train {

// Maps flattened images [batch, channels * height * width] to features
// [batch, feature_size()], the penultimate layer.
class Body : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor images) = 0;
  int64_t feature_size() const { return feature_size_; }
  // For a body that is only Linear + ReLU layers (the MLP): its layers in
  // order, so the trainer can run their gradients without autograd. Empty
  // for every other body.
  virtual std::vector<torch::nn::Linear> relu_layers() const { return {}; }

 protected:
  int64_t feature_size_ = 0;
};

struct ImageShape {
  int64_t channels = 1, height = 28, width = 28;
  int64_t size() const { return channels * height * width; }
};

// Builds the body `config` names. Its weights take LibTorch's default
// initialisation from the current global seed.
std::shared_ptr<Body> MakeBody(const ExperimentConfig& config,
                               const ImageShape& shape);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_MODELS_H_
