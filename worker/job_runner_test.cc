// The proto <-> trainer adapter, and the one source of the default protocol:
// the trainer's ExperimentConfig{} must be what an empty spec resolves to.
#include "worker/job_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/spec/defaults.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

// Compares every field of two trainer configs, naming the one that differs.
// ExperimentConfig has no reflection, so the size check below makes a new
// field a compile error here until it is compared too.
void ExpectSameConfig(const train::ExperimentConfig& want,
                      const train::ExperimentConfig& got) {
  static_assert(sizeof(train::ExperimentConfig) == 392 &&
                    sizeof(train::DataConfig) == 152,
                "a field was added to ExperimentConfig or DataConfig: "
                "compare it below, then update these sizes");
  EXPECT_EQ(want.family, got.family);
  EXPECT_EQ(want.depth, got.depth);
  EXPECT_EQ(want.width, got.width);
  EXPECT_EQ(want.width_multiplier, got.width_multiplier);
  EXPECT_EQ(want.blocks_per_stage, got.blocks_per_stage);
  EXPECT_EQ(want.patch_size, got.patch_size);
  EXPECT_EQ(want.dim, got.dim);
  EXPECT_EQ(want.vit_depth, got.vit_depth);
  EXPECT_EQ(want.heads, got.heads);
  EXPECT_EQ(want.mlp_ratio, got.mlp_ratio);
  EXPECT_EQ(want.pooling, got.pooling);
  EXPECT_EQ(want.lm_depth, got.lm_depth);
  EXPECT_EQ(want.context, got.context);
  EXPECT_EQ(want.data.pretrain_domain, got.data.pretrain_domain);
  EXPECT_EQ(want.warmup_steps, got.warmup_steps);
  EXPECT_EQ(want.replay_fraction, got.replay_fraction);
  EXPECT_EQ(want.data.dataset, got.data.dataset);
  EXPECT_EQ(want.data.path, got.data.path);
  EXPECT_EQ(want.data.pretrain_pool, got.data.pretrain_pool);
  EXPECT_EQ(want.data.synthetic_train, got.data.synthetic_train);
  EXPECT_EQ(want.data.synthetic_test, got.data.synthetic_test);
  EXPECT_EQ(want.data.synthetic_side, got.data.synthetic_side);
  EXPECT_EQ(want.data.synthetic_seed, got.data.synthetic_seed);
  EXPECT_EQ(want.data.synthetic_channels, got.data.synthetic_channels);
  EXPECT_EQ(want.data.synthetic_classes, got.data.synthetic_classes);
  EXPECT_EQ(want.pretrain_examples, got.pretrain_examples);
  EXPECT_EQ(want.pretrain_steps, got.pretrain_steps);
  EXPECT_EQ(want.pretrain_batch, got.pretrain_batch);
  EXPECT_EQ(want.pretrain_lr, got.pretrain_lr);
  EXPECT_EQ(want.pretrain_classes, got.pretrain_classes);
  ASSERT_EQ(want.tasks.size(), got.tasks.size());
  for (size_t t = 0; t < want.tasks.size(); ++t) {
    EXPECT_EQ(want.tasks[t].name, got.tasks[t].name) << "tasks[" << t << "]";
    EXPECT_EQ(want.tasks[t].classes, got.tasks[t].classes)
        << "tasks[" << t << "]";
    EXPECT_EQ(want.tasks[t].domain, got.tasks[t].domain)
        << "tasks[" << t << "]";
  }
  EXPECT_EQ(want.task_steps, got.task_steps);
  EXPECT_EQ(want.task_batch, got.task_batch);
  EXPECT_EQ(want.task_lr, got.task_lr);
  EXPECT_EQ(want.momentum, got.momentum);
  EXPECT_EQ(want.eval_every, got.eval_every);
  EXPECT_EQ(want.shared_head, got.shared_head);
  EXPECT_EQ(want.overlap, got.overlap);
  EXPECT_EQ(want.seed, got.seed);
}

TEST(DefaultProtocolTest, TrainerDefaultsAreWhatAnEmptySpecResolvesTo) {
  ExpectSameConfig(train::ExperimentConfig{},
                   ToTrainConfig(ResolveDefaults(v1::ExperimentSpec())));
}

// The knobs of the other families are compared too: ResolveDefaults fills
// them only when their family is chosen.
TEST(DefaultProtocolTest, ResnetAndVitDefaultsAgreeToo) {
  for (auto [family, name] : {std::pair{v1::ModelSpec::RESNET, "resnet"},
                              std::pair{v1::ModelSpec::VIT, "vit"}}) {
    SCOPED_TRACE(name);
    v1::ExperimentSpec spec;
    spec.mutable_model()->set_family(family);
    train::ExperimentConfig want;
    want.family = name;
    ExpectSameConfig(want, ToTrainConfig(ResolveDefaults(spec)));
  }
}

// The LM track's embedded default, field by field.
TEST(DefaultProtocolTest, LmDefaultsAreTheDocumentedOnes) {
  v1::ExperimentSpec spec;
  spec.mutable_model()->set_family(v1::ModelSpec::LM);
  ExpectSameConfig(train::DefaultLmConfig(),
                   ToTrainConfig(ResolveDefaults(spec)));
  // The numbers docs/LANGUAGE_MODELS.md documents.
  const train::ExperimentConfig c = train::DefaultLmConfig();
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.lm_depth, 2);
  EXPECT_EQ(c.heads, 4);
  EXPECT_EQ(c.context, 64);
  EXPECT_EQ(c.mlp_ratio, 4);
  EXPECT_EQ(c.pretrain_steps, 240);
  EXPECT_EQ(c.pretrain_batch, 32);
  EXPECT_DOUBLE_EQ(c.pretrain_lr, 1e-2);
  EXPECT_EQ(c.warmup_steps, 24);
  EXPECT_EQ(c.task_steps, 120);
  EXPECT_EQ(c.task_batch, 32);
  EXPECT_DOUBLE_EQ(c.task_lr, 3e-3);
  EXPECT_EQ(c.eval_every, 40);
  EXPECT_EQ(c.data.pretrain_domain, "dictionary");
  ASSERT_EQ(c.tasks.size(), 2u);
  EXPECT_EQ(c.tasks[0].domain, "prose");
  EXPECT_EQ(c.tasks[1].domain, "code");
}

TEST(DefaultProtocolTest, DefaultsAreTheDesignProtocol) {
  const train::ExperimentConfig c = train::ExperimentConfig{};
  EXPECT_EQ(c.depth, 2);
  EXPECT_EQ(c.width, 128);
  EXPECT_EQ(c.width_multiplier, 0.25);
  EXPECT_EQ(c.data.path, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(c.data.pretrain_pool, 50000);
  EXPECT_EQ(c.pretrain_steps, 600);
  EXPECT_EQ(c.pretrain_batch, 128);
  EXPECT_DOUBLE_EQ(c.pretrain_lr, 0.05);
  EXPECT_EQ(c.task_steps, 300);
  EXPECT_EQ(c.task_batch, 64);
  EXPECT_DOUBLE_EQ(c.task_lr, 0.01);
  EXPECT_DOUBLE_EQ(c.momentum, 0.9);
  ASSERT_EQ(c.tasks.size(), 2u);
  EXPECT_EQ(c.tasks[0].classes, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(c.tasks[1].classes, (std::vector<int>{5, 6, 7, 8, 9}));
}

TEST(JobRunnerTest, SyntheticDataKnobsComeFromTheSpec) {
  v1::ExperimentSpec spec;
  spec.mutable_data()->set_dataset("synthetic");
  spec.mutable_data()->set_synthetic_side(12);
  const train::ExperimentConfig c = ToTrainConfig(ResolveDefaults(spec));
  EXPECT_EQ(c.data.dataset, "synthetic");
  EXPECT_EQ(c.data.synthetic_side, 12);
  EXPECT_EQ(c.data.pretrain_pool, 1000);  // 5/6 of the 1200 train images
  EXPECT_EQ(c.data.path, "");
}

TEST(JobRunnerTest, InvalidSpecIsRejectedBeforeTraining) {
  v1::ExperimentSpec spec;
  spec.mutable_model()->set_width(0);
  absl::StatusOr<v1::JobResult> result = RunJob(spec, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("model.width"));
}

}  // namespace
}  // namespace forgetlab
