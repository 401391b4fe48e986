#include "worker/train/models.h"

#include <gtest/gtest.h>

#include "worker/train/momentum_sgd.h"

namespace forgetlab::train {
namespace {

int64_t Count(const std::shared_ptr<Body>& body) {
  int64_t n = 0;
  for (const auto& p : body->parameters()) n += p.numel();
  return n;
}

// Runs a batch forward and backward; checks the feature shape and that every
// parameter received a gradient.
void CheckForwardBackward(const std::shared_ptr<Body>& body,
                          const ImageShape& shape) {
  torch::Tensor x = torch::randn({5, shape.size()});
  torch::Tensor features = body->forward(x);
  ASSERT_EQ(features.sizes(), (std::vector<int64_t>{5, body->feature_size()}));
  features.sum().backward();
  for (const auto& p : body->parameters()) {
    ASSERT_TRUE(p.grad().defined());
  }
}

TEST(ModelsTest, MlpMatchesItsFormula) {
  ExperimentConfig c;
  c.depth = 3;
  c.width = 20;
  const ImageShape shape{1, 6, 6};
  auto body = MakeBody(c, shape);
  EXPECT_EQ(Count(body), (36 * 20 + 20) + 2 * (20 * 20 + 20));
  EXPECT_EQ(body->feature_size(), 20);
  CheckForwardBackward(body, shape);
}

TEST(ModelsTest, ResNetMatchesItsFormula) {
  ExperimentConfig c;
  c.family = "resnet";
  c.width_multiplier = 0.5;  // 8, 16, 32 channels
  c.blocks_per_stage = 2;
  const ImageShape shape{3, 8, 8};
  auto body = MakeBody(c, shape);
  auto block = [](int64_t in, int64_t out, bool projection) {
    return in * out * 9 + 2 * out + out * out * 9 + 2 * out +
           (projection ? in * out + 2 * out : 0);
  };
  const int64_t expected = (3 * 8 * 9 + 2 * 8) + block(8, 8, false) +
                           block(8, 8, false) + block(8, 16, true) +
                           block(16, 16, false) + block(16, 32, true) +
                           block(32, 32, false);
  EXPECT_EQ(Count(body), expected);
  EXPECT_EQ(body->feature_size(), 32);
  CheckForwardBackward(body, shape);
}

TEST(ModelsTest, VitMatchesItsFormula) {
  for (const char* pooling : {"cls", "mean"}) {
    ExperimentConfig c;
    c.family = "vit";
    c.patch_size = 4;
    c.dim = 16;
    c.vit_depth = 2;
    c.heads = 4;
    c.mlp_ratio = 2;
    c.pooling = pooling;
    const ImageShape shape{1, 8, 8};  // 4 patches
    auto body = MakeBody(c, shape);
    const int64_t d = 16, hidden = 32,
                  tokens = 4 + (c.pooling == "cls" ? 1 : 0);
    const int64_t per_block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) +
                              2 * d + (d * hidden + hidden) + (hidden * d + d);
    const int64_t class_token = c.pooling == "cls" ? d : 0;
    EXPECT_EQ(Count(body),
              (16 * d + d) + class_token + tokens * d + 2 * per_block + 2 * d)
        << pooling;
    CheckForwardBackward(body, shape);
  }
}

// The fused CPU step against LibTorch's own calls and torch::optim::SGD, bit
// for bit: sizes with and without a vector tail (ATen's scalar loop), on one
// thread and on two.
TEST(MomentumSgdTest, FusedStepIsBitIdenticalToLibTorch) {
  torch::manual_seed(3);
  const std::vector<std::vector<int64_t>> shapes = {
      {48, 784}, {48}, {5, 48}, {5}, {2565}, {17}, {100003}};
  for (int threads : {1, 2}) {
    torch::set_num_threads(threads);
    std::vector<torch::Tensor> start;
    for (const auto& shape : shapes) start.push_back(torch::randn(shape));
    auto copy = [&] {
      std::vector<torch::Tensor> params;
      for (const auto& t : start) params.push_back(t.clone());
      return params;
    };
    std::vector<torch::Tensor> fused = copy(), foreach_ = copy(),
                               reference = copy();
    MomentumSgd a(fused, 0.05, 0.9), b(foreach_, 0.05, 0.9);
    b.set_fused(false);
    torch::optim::SGD c(reference,
                        torch::optim::SGDOptions(0.05).momentum(0.9));
    for (int step = 0; step < 6; ++step) {
      for (size_t i = 0; i < start.size(); ++i) {
        const torch::Tensor g = torch::randn(start[i].sizes()) * 3;
        fused[i].mutable_grad() = g.clone();
        foreach_[i].mutable_grad() = g.clone();
        reference[i].mutable_grad() = g.clone();
      }
      a.Step();
      b.Step();
      c.step();
      for (size_t i = 0; i < start.size(); ++i) {
        SCOPED_TRACE("threads " + std::to_string(threads) + ", step " +
                     std::to_string(step) + ", tensor " + std::to_string(i));
        ASSERT_TRUE(torch::equal(fused[i], foreach_[i]));
        ASSERT_TRUE(torch::equal(fused[i], reference[i]));
      }
    }
    // And the step did move the parameters.
    EXPECT_FALSE(torch::equal(fused[0], start[0]));
  }
  torch::set_num_threads(1);
}

}  // namespace
}  // namespace forgetlab::train
