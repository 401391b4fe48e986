// The default protocol, filled into a spec's unset fields.
#include "proto/spec/defaults.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "proto/spec/dataset_shape.h"
#include "proto/spec/lm_rules.h"
#include "worker/train/default_protocol.h"

namespace forgetlab {

v1::ExperimentSpec ResolveDefaults(const v1::ExperimentSpec& spec) {
  v1::ExperimentSpec r = spec;
  v1::ModelSpec& model = *r.mutable_model();
  if (model.family() == v1::ModelSpec::FAMILY_UNSPECIFIED) {
    model.set_family(v1::ModelSpec::MLP);
  }
  if (model.family() == v1::ModelSpec::LM) {
    ResolveLmDefaults(&r);
    return r;
  }
  v1::DataSpec& data = *r.mutable_data();
  if (data.dataset().empty()) data.set_dataset("fashion_mnist");
  if (data.dataset() == "synthetic") {
    data.clear_path();
    if (!data.has_synthetic_train()) {
      data.set_synthetic_train(protocol::kSyntheticTrain);
    }
    if (!data.has_synthetic_test()) {
      data.set_synthetic_test(protocol::kSyntheticTest);
    }
    if (!data.has_synthetic_side()) {
      data.set_synthetic_side(protocol::kSyntheticSide);
    }
    if (!data.has_synthetic_seed()) {
      data.set_synthetic_seed(protocol::kSyntheticSeed);
    }
    if (!data.has_synthetic_channels()) {
      data.set_synthetic_channels(protocol::kSyntheticChannels);
    }
    if (!data.has_synthetic_classes()) {
      data.set_synthetic_classes(protocol::kSyntheticClasses);
    }
    if (!data.has_pretrain_pool()) {
      data.set_pretrain_pool(data.synthetic_train() * 5 / 6);
    }
  } else {
    if (data.path().empty() && data.dataset() == "fashion_mnist") {
      data.set_path(protocol::kFashionMnistPath);
    }
    if (!data.has_pretrain_pool()) {
      data.set_pretrain_pool(data.dataset() == "cifar10"
                                 ? protocol::kCifar10PretrainPool
                                 : protocol::kFashionMnistPretrainPool);
    }
  }

  // Only the chosen family's knobs are filled, so that a job's key does not
  // change with knobs it does not use.
  switch (model.family()) {
    case v1::ModelSpec::RESNET:
      if (!model.has_width_multiplier()) {
        model.set_width_multiplier(protocol::kResnetWidthMultiplier);
      }
      if (!model.has_blocks_per_stage()) {
        model.set_blocks_per_stage(protocol::kResnetBlocksPerStage);
      }
      break;
    case v1::ModelSpec::VIT: {
      const int64_t side = ImageSizeOf(data).side;
      if (!model.has_patch_size()) {
        // 7 for 28-pixel images, 4 for 32, else one patch.
        model.set_patch_size(side % protocol::kVitPatchSize == 0
                                 ? protocol::kVitPatchSize
                             : side % 4 == 0 ? 4
                                             : side);
      }
      if (!model.has_dim()) model.set_dim(protocol::kVitDim);
      if (!model.has_vit_depth()) model.set_vit_depth(protocol::kVitDepth);
      if (!model.has_heads()) model.set_heads(protocol::kVitHeads);
      if (!model.has_mlp_ratio()) model.set_mlp_ratio(protocol::kVitMlpRatio);
      if (model.pooling().empty()) model.set_pooling(protocol::kVitPooling);
      break;
    }
    default:
      if (!model.has_depth()) model.set_depth(protocol::kMlpDepth);
      if (!model.has_width()) model.set_width(protocol::kMlpWidth);
  }

  v1::PretrainSpec& pretrain = *r.mutable_pretrain();
  if (!pretrain.has_examples())
    pretrain.set_examples(protocol::kPretrainExamples);
  if (!pretrain.has_steps()) pretrain.set_steps(protocol::kPretrainSteps);
  if (!pretrain.has_batch_size())
    pretrain.set_batch_size(protocol::kPretrainBatch);
  if (!pretrain.has_lr()) pretrain.set_lr(protocol::kPretrainLr);

  if (r.tasks().empty()) {
    int first_class = 0;
    for (const char* name : protocol::kTaskNames) {
      v1::TaskSpec* task = r.add_tasks();
      task->set_name(name);
      for (int c = 0; c < protocol::kClassesPerTask; ++c) {
        task->add_classes(first_class++);
      }
    }
  }
  for (int i = 0; i < r.tasks_size(); ++i) {
    if (r.tasks(i).name().empty()) {
      r.mutable_tasks(i)->set_name(absl::StrCat("T", i + 1));
    }
  }

  v1::FinetuneSpec& finetune = *r.mutable_finetune();
  if (!finetune.has_steps()) finetune.set_steps(protocol::kTaskSteps);
  if (!finetune.has_batch_size()) finetune.set_batch_size(protocol::kTaskBatch);
  if (!finetune.has_lr()) finetune.set_lr(protocol::kTaskLr);
  if (!r.optimizer().has_momentum()) {
    r.mutable_optimizer()->set_momentum(protocol::kMomentum);
  }
  if (!r.eval().has_eval_every()) {
    r.mutable_eval()->set_eval_every(protocol::kEvalEvery);
  }
  if (!r.has_seed()) r.set_seed(protocol::kSeed);
  return r;
}

}  // namespace forgetlab
