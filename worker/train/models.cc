// MLP, CIFAR-style ResNet and Vision Transformer bodies.
#include "worker/train/models.h"

#include <cmath>
#include <string>
#include <vector>

namespace forgetlab::train {
namespace {

namespace nn = torch::nn;

// depth x (Linear + ReLU).
class MlpBody : public Body {
 public:
  MlpBody(const ImageShape& shape, int depth, int width) {
    int64_t in = shape.size();
    for (int i = 0; i < depth; ++i) {
      layers_.push_back(register_module(
          "fc" + std::to_string(i),
          nn::Linear(/*in_features=*/in, /*out_features=*/width)));
      in = width;
    }
    feature_size_ = in;
  }
  torch::Tensor forward(torch::Tensor x) override {
    for (auto& layer : layers_) x = torch::relu(layer->forward(x));
    return x;
  }
  std::vector<nn::Linear> relu_layers() const override { return layers_; }

 private:
  std::vector<nn::Linear> layers_;
};

nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                        .stride(stride)
                        .padding(kernel / 2)
                        .bias(false));
}

// conv3x3-BN-ReLU-conv3x3-BN plus the (projected) input, then ReLU.
class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride)
      : conv1_(register_module("conv1", Conv(in, out, 3, stride))),
        bn1_(register_module("bn1", nn::BatchNorm2d(out))),
        conv2_(register_module("conv2", Conv(out, out, 3, 1))),
        bn2_(register_module("bn2", nn::BatchNorm2d(out))) {
    if (stride != 1 || in != out) {
      shortcut_conv_ =
          register_module("shortcut_conv", Conv(in, out, 1, stride));
      shortcut_bn_ = register_module("shortcut_bn", nn::BatchNorm2d(out));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    const torch::Tensor shortcut =
        shortcut_conv_ ? shortcut_bn_->forward(shortcut_conv_->forward(x)) : x;
    return torch::relu(y + shortcut);
  }

 private:
  nn::Conv2d conv1_;
  nn::BatchNorm2d bn1_;
  nn::Conv2d conv2_;
  nn::BatchNorm2d bn2_;
  nn::Conv2d shortcut_conv_{nullptr};
  nn::BatchNorm2d shortcut_bn_{nullptr};
};

class ResNetBody : public Body {
 public:
  ResNetBody(const ImageShape& shape, double multiplier, int blocks)
      : shape_(shape) {
    int64_t widths[3];
    for (int s = 0; s < 3; ++s) {
      widths[s] = std::max<int64_t>(1, std::llround((16 << s) * multiplier));
    }
    stem_conv_ =
        register_module("stem_conv", Conv(shape.channels, widths[0], 3, 1));
    stem_bn_ = register_module("stem_bn", nn::BatchNorm2d(widths[0]));
    int64_t in = widths[0];
    for (int s = 0; s < 3; ++s) {
      for (int b = 0; b < blocks; ++b) {
        const int64_t stride = s > 0 && b == 0 ? 2 : 1;
        blocks_.push_back(register_module(
            "stage" + std::to_string(s) + "_block" + std::to_string(b),
            std::make_shared<BasicBlock>(in, widths[s], stride)));
        in = widths[s];
      }
    }
    feature_size_ = in;
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = x.view({-1, shape_.channels, shape_.height, shape_.width});
    x = torch::relu(stem_bn_->forward(stem_conv_->forward(x)));
    for (auto& block : blocks_) x = block->forward(x);
    return x.mean({2, 3});  // global average pooling
  }

 private:
  ImageShape shape_;
  nn::Conv2d stem_conv_{nullptr};
  nn::BatchNorm2d stem_bn_{nullptr};
  std::vector<std::shared_ptr<BasicBlock>> blocks_;
};

// Pre-norm transformer block: x + MHA(LN(x)), then x + MLP(LN(x)).
class EncoderBlock : public nn::Module {
 public:
  EncoderBlock(int64_t dim, int64_t heads, int64_t hidden)
      : norm1_(register_module("norm1",
                               nn::LayerNorm(nn::LayerNormOptions({dim})))),
        attention_(register_module(
            "attention",
            nn::MultiheadAttention(nn::MultiheadAttentionOptions(dim, heads)))),
        norm2_(register_module("norm2",
                               nn::LayerNorm(nn::LayerNormOptions({dim})))),
        fc1_(register_module("fc1", nn::Linear(dim, hidden))),
        fc2_(register_module("fc2", nn::Linear(hidden, dim))) {}
  // x: [tokens, batch, dim], as MultiheadAttention expects.
  torch::Tensor forward(torch::Tensor x) {
    const torch::Tensor h = norm1_->forward(x);
    x = x +
        std::get<0>(attention_->forward(h, h, h, {}, /*need_weights=*/false));
    return x + fc2_->forward(torch::gelu(fc1_->forward(norm2_->forward(x))));
  }

 private:
  nn::LayerNorm norm1_;
  nn::MultiheadAttention attention_;
  nn::LayerNorm norm2_;
  nn::Linear fc1_;
  nn::Linear fc2_;
};

class VitBody : public Body {
 public:
  VitBody(const ImageShape& shape, const ExperimentConfig& c)
      : shape_(shape), mean_pooling_(c.pooling == "mean") {
    const int64_t tokens =
        (shape.height / c.patch_size) * (shape.width / c.patch_size);
    patch_ = register_module(
        "patch_embedding",
        nn::Conv2d(nn::Conv2dOptions(shape.channels, c.dim, c.patch_size)
                       .stride(c.patch_size)));
    if (!mean_pooling_) {
      cls_ = register_parameter("class_token", torch::zeros({1, 1, c.dim}));
    }
    position_ = register_parameter(
        "position",
        torch::randn({tokens + (mean_pooling_ ? 0 : 1), 1, c.dim}) * 0.02);
    for (int i = 0; i < c.vit_depth; ++i) {
      blocks_.push_back(
          register_module("block" + std::to_string(i),
                          std::make_shared<EncoderBlock>(
                              c.dim, c.heads, int64_t{c.dim} * c.mlp_ratio)));
    }
    norm_ =
        register_module("norm", nn::LayerNorm(nn::LayerNormOptions({c.dim})));
    feature_size_ = c.dim;
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = x.view({-1, shape_.channels, shape_.height, shape_.width});
    // [batch, dim, h', w'] -> [tokens, batch, dim]
    x = patch_->forward(x).flatten(2).permute({2, 0, 1});
    if (!mean_pooling_) {
      x = torch::cat({cls_.expand({1, x.size(1), x.size(2)}), x}, 0);
    }
    x = x + position_;
    for (auto& block : blocks_) x = block->forward(x);
    x = norm_->forward(x);
    return mean_pooling_ ? x.mean(0) : x[0];
  }

 private:
  ImageShape shape_;
  bool mean_pooling_;
  nn::Conv2d patch_{nullptr};
  torch::Tensor cls_;
  torch::Tensor position_;
  std::vector<std::shared_ptr<EncoderBlock>> blocks_;
  nn::LayerNorm norm_{nullptr};
};

}  // namespace

std::shared_ptr<Body> MakeBody(const ExperimentConfig& config,
                               const ImageShape& shape) {
  if (config.family == "resnet") {
    return std::make_shared<ResNetBody>(shape, config.width_multiplier,
                                        config.blocks_per_stage);
  }
  if (config.family == "vit") return std::make_shared<VitBody>(shape, config);
  return std::make_shared<MlpBody>(shape, config.depth, config.width);
}

}  // namespace forgetlab::train
