// The byte-level Transformer LM.
#include "worker/train/lm_model.h"

#include <cmath>
#include <limits>
#include <string>

namespace forgetlab::train {

ByteLmImpl::ByteLmImpl(const LmShape& shape) : shape_(shape) {
  const int64_t d = shape.dim, hidden = shape.mlp_ratio * shape.dim;
  embedding_ =
      register_parameter("embedding", torch::empty({LmShape::kVocabulary, d}));
  positions_ =
      register_parameter("positions", torch::empty({shape.context, d}));
  for (int64_t i = 0; i < shape.depth; ++i) {
    const std::string p = "block" + std::to_string(i) + "_";
    Block b;
    b.ln1_w = register_parameter(p + "ln1_weight", torch::empty({d}));
    b.ln1_b = register_parameter(p + "ln1_bias", torch::empty({d}));
    b.qkv_w = register_parameter(p + "qkv_weight", torch::empty({3 * d, d}));
    b.qkv_b = register_parameter(p + "qkv_bias", torch::empty({3 * d}));
    b.proj_w = register_parameter(p + "proj_weight", torch::empty({d, d}));
    b.proj_b = register_parameter(p + "proj_bias", torch::empty({d}));
    b.ln2_w = register_parameter(p + "ln2_weight", torch::empty({d}));
    b.ln2_b = register_parameter(p + "ln2_bias", torch::empty({d}));
    b.fc1_w = register_parameter(p + "fc1_weight", torch::empty({hidden, d}));
    b.fc1_b = register_parameter(p + "fc1_bias", torch::empty({hidden}));
    b.fc2_w = register_parameter(p + "fc2_weight", torch::empty({d, hidden}));
    b.fc2_b = register_parameter(p + "fc2_bias", torch::empty({d}));
    blocks_.push_back(b);
  }
  lnf_w_ = register_parameter("lnf_weight", torch::empty({d}));
  lnf_b_ = register_parameter("lnf_bias", torch::empty({d}));
  InitWeights();
}

void ByteLmImpl::InitWeights() {
  torch::NoGradGuard no_grad;
  for (const auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor p = item.value();
    auto ends_with = [&name](const std::string& suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) ==
                 0;
    };
    const bool layer_norm = ends_with("ln1_weight") ||
                            ends_with("ln2_weight") || name == "lnf_weight";
    const bool bias = ends_with("_bias");
    if (layer_norm) {
      p.fill_(1.0);
    } else if (bias) {
      p.zero_();
    } else {
      p.normal_(0.0, 0.02);
    }
  }
}

const torch::Tensor& ByteLmImpl::CausalBias(int64_t t,
                                            const torch::Device& device) {
  if (!causal_bias_.defined() || causal_bias_.size(0) != t ||
      causal_bias_.device() != device) {
    causal_bias_ = torch::full({t, t}, -std::numeric_limits<float>::infinity(),
                               torch::TensorOptions().device(device))
                       .triu(1);
  }
  return causal_bias_;
}

torch::Tensor ByteLmImpl::forward(const torch::Tensor& bytes) {
  const int64_t batch = bytes.size(0), t = bytes.size(1);
  const int64_t d = shape_.dim, h = shape_.heads, dh = d / h;
  // One row per position of every window, [batch * t, d], so that each
  // linear layer is a single GEMM with its bias fused in (addmm).
  torch::Tensor x =
      (torch::embedding(embedding_, bytes) + positions_.slice(0, 0, t))
          .view({batch * t, d});
  // 0 on and below the diagonal, -inf above: a position may not attend to
  // later ones. Added inside the score GEMM (baddbmm), with the scale.
  const torch::Tensor& future = CausalBias(t, bytes.device());
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  for (const Block& b : blocks_) {
    torch::Tensor a = torch::layer_norm(x, {d}, b.ln1_w, b.ln1_b);
    // [batch, t, 3, heads, dh] -> three [batch * heads, t, dh]
    torch::Tensor qkv = torch::linear(a, b.qkv_w, b.qkv_b)
                            .view({batch, t, 3, h, dh})
                            .permute({2, 0, 3, 1, 4});
    torch::Tensor q = qkv[0].reshape({batch * h, t, dh});
    torch::Tensor k = qkv[1].reshape({batch * h, t, dh});
    torch::Tensor v = qkv[2].reshape({batch * h, t, dh});
    torch::Tensor scores =
        torch::baddbmm(future, q, k.transpose(1, 2), /*beta=*/1, scale);
    torch::Tensor attended = torch::bmm(torch::softmax(scores, -1), v)
                                 .view({batch, h, t, dh})
                                 .transpose(1, 2)
                                 .reshape({batch * t, d});
    x = x + torch::linear(attended, b.proj_w, b.proj_b);
    torch::Tensor m = torch::layer_norm(x, {d}, b.ln2_w, b.ln2_b);
    m = torch::linear(torch::gelu(torch::linear(m, b.fc1_w, b.fc1_b)), b.fc2_w,
                      b.fc2_b);
    x = x + m;
  }
  x = torch::layer_norm(x, {d}, lnf_w_, lnf_b_);
  return torch::mm(x, embedding_.t()).view({batch, t, LmShape::kVocabulary});
}

}  // namespace forgetlab::train
