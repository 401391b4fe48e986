// Parameter counts and training samples of resolved specs.
#include "proto/spec/cost.h"

#include <algorithm>
#include <cmath>

#include "proto/spec/dataset_shape.h"
#include "worker/train/lm_shape.h"

namespace forgetlab {

int64_t EstimateParameterCount(const v1::ExperimentSpec& r) {
  const ImageSize image = ImageSizeOf(r.data());
  const v1::ModelSpec& m = r.model();
  int64_t count = 0, features = 0;
  if (m.family() == v1::ModelSpec::LM) {
    return train::LmParameterCount(train::LmShape{
        m.dim(), m.lm_depth(), m.heads(), m.context(), m.mlp_ratio()});
  }
  if (m.family() == v1::ModelSpec::RESNET) {
    int64_t widths[3];
    for (int s = 0; s < 3; ++s) {
      widths[s] =
          std::max<int64_t>(1, std::llround((16 << s) * m.width_multiplier()));
    }
    count += image.channels * widths[0] * 9 + 2 * widths[0];  // stem + BN
    int64_t in = widths[0];
    for (int s = 0; s < 3; ++s) {
      for (int b = 0; b < m.blocks_per_stage(); ++b) {
        const int64_t out = widths[s];
        count += in * out * 9 + 2 * out + out * out * 9 + 2 * out;
        if (in != out || (s > 0 && b == 0)) count += in * out + 2 * out;
        in = out;
      }
    }
    features = in;
  } else if (m.family() == v1::ModelSpec::VIT) {
    const int64_t d = m.dim(), hidden = d * m.mlp_ratio();
    const int64_t tokens =
        (image.side / m.patch_size()) * (image.side / m.patch_size());
    count +=
        image.channels * m.patch_size() * m.patch_size() * d + d;  // patches
    const int64_t class_token = m.pooling() == "mean" ? 0 : 1;
    count += class_token * d + (tokens + class_token) * d;  // class, position
    count += m.vit_depth() * (2 * d + 3 * d * d + 3 * d + d * d + d + 2 * d +
                              d * hidden + hidden + hidden * d + d);
    count += 2 * d;  // final norm
    features = d;
  } else {
    int64_t in = image.channels * image.side * image.side;
    for (int i = 0; i < m.depth(); ++i) {
      count += in * m.width() + m.width();
      in = m.width();
    }
    features = in;
  }
  if (r.finetune().shared_head()) {
    int widest = 0;
    for (const v1::TaskSpec& task : r.tasks()) {
      widest = std::max(widest, task.classes_size());
    }
    return count + (features + 1) * widest;
  }
  for (const v1::TaskSpec& task : r.tasks()) {
    count += (features + 1) * task.classes_size();
  }
  return count;
}

int64_t TrainingSamples(const v1::ExperimentSpec& r) {
  int64_t samples = int64_t{r.tasks_size()} * r.finetune().steps() *
                    r.finetune().batch_size();
  if (r.pretrain().examples() > 0) {
    samples += int64_t{r.pretrain().steps()} * r.pretrain().batch_size();
  }
  // An LM sample is a window of `context` predicted bytes.
  if (r.model().family() == v1::ModelSpec::LM) samples *= r.model().context();
  return samples;
}

double StepFlops(const v1::ExperimentSpec& r, const std::string& phase) {
  int64_t batch = 0;
  if (phase == "pretrain") {
    batch = r.pretrain().batch_size();
  } else if (phase.rfind("task:", 0) == 0) {
    batch = r.finetune().batch_size();
  }
  if (r.model().family() == v1::ModelSpec::LM) batch *= r.model().context();
  return 6.0 * static_cast<double>(EstimateParameterCount(r)) *
         static_cast<double>(batch);
}

namespace {

// Floats one sample keeps for backward (all), and the widest layer output of
// a forward pass (widest), by family.
struct Activations {
  int64_t all = 0, widest = 0;
};

// A transformer block's per-token floats: two norms, q, k, v, the attention
// output and projection, two residuals and the MLP's hidden layer twice
// (before and after the GELU), plus the attention scores and their softmax.
Activations TransformerActivations(int64_t tokens, int64_t dim, int64_t heads,
                                   int64_t mlp_ratio, int64_t depth) {
  const int64_t hidden = dim * mlp_ratio;
  const int64_t per_token = 9 * dim + 2 * hidden + 2 * heads * tokens;
  return {depth * tokens * per_token,
          tokens * std::max({3 * dim, hidden, heads * tokens})};
}

Activations ActivationsOf(const v1::ExperimentSpec& r) {
  const v1::ModelSpec& m = r.model();
  const ImageSize image = ImageSizeOf(r.data());
  const int64_t input = image.channels * image.side * image.side;
  if (m.family() == v1::ModelSpec::LM) {
    Activations a = TransformerActivations(m.context(), m.dim(), m.heads(),
                                           m.mlp_ratio(), m.lm_depth());
    const int64_t logits = m.context() * train::LmShape::kVocabulary;
    return {a.all + 3 * logits, std::max(a.widest, logits)};
  }
  if (m.family() == v1::ModelSpec::VIT) {
    const int64_t side = image.side / std::max(1, m.patch_size());
    const int64_t tokens = side * side + (m.pooling() == "mean" ? 0 : 1);
    Activations a = TransformerActivations(tokens, m.dim(), m.heads(),
                                           m.mlp_ratio(), m.vit_depth());
    return {a.all + input, std::max(a.widest, input)};
  }
  if (m.family() == v1::ModelSpec::RESNET) {
    // Each convolution keeps its output, its batch-norm output and its ReLU
    // (three maps of the stage's width at the stage's resolution).
    int64_t all = input, widest = input, side = image.side;
    for (int s = 0; s < 3; ++s) {
      const int64_t width =
          std::max<int64_t>(1, std::llround((16 << s) * m.width_multiplier()));
      if (s > 0) side = (side + 1) / 2;
      const int64_t map = width * side * side;
      const int64_t convs = 2 * int64_t{m.blocks_per_stage()} + (s == 0);
      all += 3 * map * convs;
      widest = std::max(widest, map);
    }
    return {all, widest};
  }
  // MLP: each layer's pre-activation, ReLU output and mask.
  return {input + 3 * int64_t{m.depth()} * m.width(),
          std::max<int64_t>(input, m.width())};
}

// Rows of one evaluation pass: the whole test split at once (images), or
// the held-out windows (LM).
int64_t EvaluationRows(const v1::ExperimentSpec& r) {
  if (r.model().family() == v1::ModelSpec::LM) return 128;
  if (r.data().dataset() == "synthetic") return r.data().synthetic_test();
  return 10000;
}

}  // namespace

int64_t EstimateDeviceBytes(const v1::ExperimentSpec& r) {
  const int64_t params = EstimateParameterCount(r);
  // Weights, gradients and the optimizer's state: one buffer for SGD's
  // momentum, two for AdamW's moments (LM).
  const int64_t states = r.model().family() == v1::ModelSpec::LM ? 2 : 1;
  const int64_t batch =
      std::max<int64_t>(r.pretrain().batch_size(), r.finetune().batch_size());
  const Activations a = ActivationsOf(r);
  // Training keeps every activation and its gradient; evaluation (no
  // gradients) keeps about three of the widest layer at once.
  const int64_t training = 2 * batch * a.all;
  const int64_t evaluation = 3 * EvaluationRows(r) * a.widest;
  return 4 * (params * (2 + states) + std::max(training, evaluation)) +
         kJobDeviceOverheadBytes;
}

}  // namespace forgetlab
