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

}  // namespace forgetlab
