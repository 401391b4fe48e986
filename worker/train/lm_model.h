// The language-model track's model: a byte-level decoder-only Transformer
// (DESIGN.md, "Language-model track"). Internal to worker/train (includes
// LibTorch).
#ifndef FORGETLAB_WORKER_TRAIN_LM_MODEL_H_
#define FORGETLAB_WORKER_TRAIN_LM_MODEL_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "worker/train/lm_shape.h"

namespace forgetlab::train {

// Pre-LayerNorm decoder: x = embed(bytes) + positions; each block adds
// causal self-attention of LN(x), then a GELU MLP of LN(x); a final
// LayerNorm; logits = x E^T with E the byte embedding. No dropout.
//
// Parameters are registered in one documented order, which InitWeights
// follows: embedding [256, d], positions [context, d], then per block i
// block<i>_ln1_{weight,bias}, _qkv_{weight [3d, d], bias}, _proj_{weight,
// bias}, _ln2_{weight,bias}, _fc1_{weight [r d, d], bias}, _fc2_{weight,
// bias}, and last lnf_{weight,bias}.
class ByteLmImpl : public torch::nn::Module {
 public:
  explicit ByteLmImpl(const LmShape& shape);

  // N(0, 0.02) for every weight matrix, embedding and position (drawn in
  // registration order from the global generator), 0 for biases, 1 and 0
  // for LayerNorms.
  void InitWeights();

  // bytes: int64 [batch, t], t <= context. Returns logits [batch, t, 256].
  torch::Tensor forward(const torch::Tensor& bytes);

  const LmShape& shape() const { return shape_; }

 private:
  // The causal mask as an additive bias [t, t], kept between calls.
  const torch::Tensor& CausalBias(int64_t t, const torch::Device& device);

  struct Block {
    torch::Tensor ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b;
    torch::Tensor ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };

  LmShape shape_;
  torch::Tensor embedding_, positions_;
  std::vector<Block> blocks_;
  torch::Tensor lnf_w_, lnf_b_;
  torch::Tensor causal_bias_;
};
TORCH_MODULE(ByteLm);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_LM_MODEL_H_
