// The spec rules: defaults, validation, field paths, keys, cost, grids and
// spec files.
#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/spec/cost.h"
#include "proto/spec/defaults.h"
#include "proto/spec/field_path.h"
#include "proto/spec/grid.h"
#include "proto/spec/spec_io.h"
#include "proto/spec/spec_key.h"
#include "proto/spec/validate.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

v1::SweepSpec ParseSweep(const std::string& text) {
  v1::SweepSpec sweep;
  absl::Status s = ParseSpecText("test.textproto", text, &sweep);
  EXPECT_TRUE(s.ok()) << s;
  return sweep;
}

TEST(SpecTest, DefaultsAreTheDesignProtocol) {
  const v1::ExperimentSpec r = ResolveDefaults(v1::ExperimentSpec());
  EXPECT_EQ(r.model().family(), v1::ModelSpec::MLP);
  EXPECT_EQ(r.model().depth(), 2);
  EXPECT_EQ(r.data().dataset(), "fashion_mnist");
  EXPECT_EQ(r.data().path(), "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(r.data().pretrain_pool(), 50000);
  EXPECT_EQ(r.pretrain().steps(), 600);
  EXPECT_EQ(r.pretrain().batch_size(), 128);
  EXPECT_DOUBLE_EQ(r.pretrain().lr(), 0.05);
  EXPECT_EQ(r.finetune().steps(), 300);
  EXPECT_EQ(r.finetune().batch_size(), 64);
  EXPECT_DOUBLE_EQ(r.finetune().lr(), 0.01);
  EXPECT_DOUBLE_EQ(r.optimizer().momentum(), 0.9);
  ASSERT_EQ(r.tasks_size(), 2);
  EXPECT_THAT(r.tasks(0).classes(), ::testing::ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(r.tasks(1).classes(), ::testing::ElementsAre(5, 6, 7, 8, 9));
  EXPECT_TRUE(ValidateExperiment(r, "").ok());
}

TEST(SpecTest, DefaultSweepFileExpandsTo36Jobs) {
  v1::SweepSpec sweep;
  ASSERT_TRUE(ParseSpecFile(FORGETLAB_SOURCE_DIR
                            "/deploy/sweeps/default.textproto",
                            &sweep)
                  .ok());
  auto jobs = ExpandSweep(sweep, kDefaultMaxJobsPerSweep);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 36u);
  // First axis outermost, seeds innermost.
  EXPECT_EQ((*jobs)[0].axis_values.at("model.width"), 32);
  EXPECT_EQ((*jobs)[0].axis_values.at("pretrain.examples"), 0);
  EXPECT_EQ((*jobs)[1].axis_values.at("seed"), 1);
  EXPECT_EQ((*jobs)[35].spec.model().width(), 512);
  EXPECT_EQ((*jobs)[35].spec.pretrain().examples(), 50000);
  EXPECT_EQ((*jobs)[35].spec.seed(), 2);
  std::set<std::string> keys;
  for (const auto& job : *jobs) keys.insert(job.spec_key);
  EXPECT_EQ(keys.size(), 36u);
}

// The LM sweeps expand as their comments say, each job valid, and an LM
// spec's mistakes name the field.
TEST(SpecTest, LmSweepsExpandAndLmMistakesNameTheField) {
  for (const auto& [file, jobs_expected] :
       {std::pair<const char*, size_t>{"lm_default", 27},
        {"lm_replay", 18},
        {"lm_gpu", 27}}) {
    v1::SweepSpec sweep;
    ASSERT_TRUE(
        ParseSpecFile(absl::StrCat(FORGETLAB_SOURCE_DIR, "/deploy/sweeps/",
                                   file, ".textproto"),
                      &sweep)
            .ok())
        << file;
    auto jobs = ExpandSweep(sweep, kDefaultMaxJobsPerSweep);
    ASSERT_TRUE(jobs.ok()) << file << ": " << jobs.status();
    EXPECT_EQ(jobs->size(), jobs_expected) << file;
  }
  v1::SweepSpec lm_default;
  ASSERT_TRUE(ParseSpecFile(FORGETLAB_SOURCE_DIR
                            "/deploy/sweeps/lm_default.textproto",
                            &lm_default)
                  .ok());
  auto jobs = ExpandSweep(lm_default, kDefaultMaxJobsPerSweep);
  ASSERT_TRUE(jobs.ok());
  const int64_t smallest = EstimateParameterCount(jobs->front().spec);
  const int64_t largest = EstimateParameterCount(jobs->back().spec);
  EXPECT_EQ(smallest, 11712);
  EXPECT_EQ(largest, 120576);
  EXPECT_GE(largest, 8 * smallest);

  auto error = [](const std::string& text) {
    v1::ExperimentSpec spec;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec));
    return std::string(ValidateExperiment(ResolveDefaults(spec), "").message());
  };
  EXPECT_EQ(error("model { family: LM }"), "");
  EXPECT_THAT(error("model { family: LM } tasks { name: \"x\" } "
                    "tasks { name: \"code\" }"),
              HasSubstr("tasks[0].domain is \"x\"; text domains are "
                        "dictionary, prose, code, german"));
  EXPECT_THAT(
      error("model { family: LM } tasks { domain: \"prose\" classes: 1 } "
            "tasks { domain: \"code\" }"),
      HasSubstr("tasks[0].classes does not apply to model.family LM"));
  EXPECT_THAT(error("model { family: LM } data { dataset: \"fashion_mnist\" }"),
              HasSubstr("data.dataset must be \"text\""));
  EXPECT_THAT(error("model { family: MLP } data { dataset: \"text\" }"),
              HasSubstr("data.dataset \"text\" is for model.family LM"));
  EXPECT_THAT(error("model { family: LM dim: 30 heads: 4 }"),
              HasSubstr("model.heads (4) must divide model.dim (30)"));
  EXPECT_THAT(error("model { family: LM } finetune { replay_fraction: 1 }"),
              HasSubstr("finetune.replay_fraction must be in [0, 1)"));
  EXPECT_THAT(error("model { family: LM } optimizer { momentum: 0.9 }"),
              HasSubstr("optimizer.momentum does not apply"));
  EXPECT_THAT(error("model { family: LM } data { path: \"rel/dir\" }"),
              HasSubstr("data.path must be an absolute folder path"));
}

TEST(SpecTest, KeyIgnoresHowADefaultWasSpelled) {
  v1::ExperimentSpec implicit;
  v1::ExperimentSpec explicit_spec;
  explicit_spec.mutable_finetune()->set_lr(0.01);
  explicit_spec.mutable_model()->set_width(128);
  EXPECT_EQ(SpecKey(ResolveDefaults(implicit)),
            SpecKey(ResolveDefaults(explicit_spec)));
  explicit_spec.mutable_finetune()->set_lr(0.02);
  EXPECT_NE(SpecKey(ResolveDefaults(implicit)),
            SpecKey(ResolveDefaults(explicit_spec)));
}

TEST(SpecTest, PretrainingKeyIgnoresWhatComesAfterPretraining) {
  v1::ExperimentSpec a;
  a.mutable_pretrain()->set_examples(1000);
  v1::ExperimentSpec b = a;
  b.mutable_finetune()->set_lr(0.1);
  b.mutable_finetune()->set_steps(7);
  b.mutable_eval()->set_eval_every(0);
  const std::string key = PretrainingKey(ResolveDefaults(a));
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key, PretrainingKey(ResolveDefaults(b)));
  EXPECT_NE(SpecKey(ResolveDefaults(a)), SpecKey(ResolveDefaults(b)));
  // What pretraining reads makes another key.
  for (auto change : std::vector<std::function<void(v1::ExperimentSpec*)>>{
           [](v1::ExperimentSpec* s) { s->set_seed(5); },
           [](v1::ExperimentSpec* s) { s->mutable_model()->set_width(64); },
           [](v1::ExperimentSpec* s) { s->mutable_pretrain()->set_lr(0.2); },
           [](v1::ExperimentSpec* s) {
             s->mutable_pretrain()->set_examples(2000);
           },
           [](v1::ExperimentSpec* s) {
             s->mutable_optimizer()->set_momentum(0.5);
           }}) {
    v1::ExperimentSpec c = a;
    change(&c);
    EXPECT_NE(PretrainingKey(ResolveDefaults(c)), key) << c.DebugString();
  }
  // From scratch there is nothing to share.
  a.mutable_pretrain()->set_examples(0);
  EXPECT_EQ(PretrainingKey(ResolveDefaults(a)), "");
}

TEST(SpecTest, BadValuesNameTheField) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"base { model { width: 0 } }",
       "base.model.width must be between 1 and 8192 (got 0)"},
      {"axes { path: 'model.width' values: [32, 0] }",
       "axes[0] (model.width) value 0: model.width must be between 1 and 8192"},
      {"axes { path: 'pretrain.examples' values: [-5] }",
       "axes[0] (pretrain.examples) value -5: pretrain.examples must be "
       "between 0 and 50000"},
      {"axes { path: 'pretrain.examples' values: [60000] }",
       "pretrain.examples must be between 0 and 50000 (got 60000)"},
      {"base { tasks { classes: [0, 1, 2] } tasks { classes: [2, 3] } }",
       "base.tasks[1].classes repeats class 2, already in tasks[0]"},
      {"base { data { dataset: 'cifar100' } }",
       "base.data.dataset is unknown ('cifar100'); known datasets: "
       "fashion_mnist, idx, cifar10, synthetic"},
      {"base { model { family: VIT dim: 30 heads: 4 } }",
       "base.model.heads (4) must divide model.dim (30)"},
      {"base { model { family: VIT patch_size: 5 } }",
       "base.model.patch_size (5) must divide the image side (28)"},
      {"base { model { family: VIT pooling: 'max' } }",
       "base.model.pooling must be"},
      {"base { model { family: RESNET width_multiplier: 0 } }",
       "base.model.width_multiplier must be between 0.0625 and 8"},
      {"base { data { dataset: 'idx' } }",
       "base.data.path must be an absolute folder path for dataset idx"},
      {"base { data { dataset: 'cifar10' path: '/data/../etc' } }",
       "base.data.path must not contain '..'"},
      {"base { pretrain { classes: [3, 3] } }",
       "base.pretrain.classes repeats class 3"},
      {"base { pretrain { classes: [12] } }",
       "base.pretrain.classes has class 12"},
      {"axes { path: 'model.colour' values: [1] }",
       "no field 'colour' in ModelSpec"},
      {"axes { path: 'model.width' values: [1.5] }", "is an integer field"},
      {"axes { path: 'finetune.lr' values: [] }",
       "axes[0] (finetune.lr) has no values"},
      {"seeds: [1, 1]", "seeds lists a seed twice"},
  };
  for (const Case& c : cases) {
    auto jobs = ExpandSweep(ParseSweep(c.text), kDefaultMaxJobsPerSweep);
    ASSERT_FALSE(jobs.ok()) << c.text;
    EXPECT_EQ(jobs.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(jobs.status().message()), HasSubstr(c.expected))
        << c.text;
  }
}

TEST(SpecTest, JobLimitIsEnforced) {
  auto jobs = ExpandSweep(
      ParseSweep("axes { path: 'seed' values: [0, 1, 2, 3, 4] } "
                 "axes { path: 'finetune.lr' values: [0.1, 0.2, 0.3] }"),
      10);
  ASSERT_FALSE(jobs.ok());
  EXPECT_THAT(std::string(jobs.status().message()),
              HasSubstr("axes: the sweep would expand to 15 jobs (5 seed x 3 "
                        "finetune.lr); at most 10 jobs are allowed"));
}

TEST(SpecTest, TaskNamesAreShortAndPrintable) {
  v1::ExperimentSpec spec;
  spec.add_tasks()->set_name(std::string(65, 'A'));
  spec.mutable_tasks(0)->add_classes(0);
  spec.add_tasks()->set_name("B");
  spec.mutable_tasks(1)->add_classes(1);
  absl::Status s = ValidateExperiment(ResolveDefaults(spec), "");
  EXPECT_THAT(std::string(s.message()), HasSubstr("tasks[0].name"));
  spec.mutable_tasks(0)->set_name("A\nB");
  s = ValidateExperiment(ResolveDefaults(spec), "");
  EXPECT_THAT(std::string(s.message()), HasSubstr("printable"));
  spec.mutable_tasks(0)->set_name("A");
  EXPECT_TRUE(ValidateExperiment(ResolveDefaults(spec), "").ok());
}

TEST(SpecTest, FamilyIsNotAnAxisAndSaysWhy) {
  auto jobs = ExpandSweep(
      ParseSweep("axes { path: 'model.family' values: [1, 2] }"), 100);
  ASSERT_FALSE(jobs.ok());
  EXPECT_THAT(std::string(jobs.status().message()),
              HasSubstr("axes[0] sweeps model.family"));
  EXPECT_THAT(std::string(jobs.status().message()),
              HasSubstr("one sweep per family"));
}

TEST(SpecTest, AxisSetsNestedNumericFields) {
  v1::ExperimentSpec spec;
  ASSERT_TRUE(SetNumericField("finetune.lr", 0.25, &spec).ok());
  ASSERT_TRUE(SetNumericField("seed", 9, &spec).ok());
  EXPECT_DOUBLE_EQ(*GetNumericField(spec, "finetune.lr"), 0.25);
  EXPECT_EQ(spec.seed(), 9);
  EXPECT_FALSE(SetNumericField("tasks", 1, &spec).ok());
  EXPECT_FALSE(SetNumericField("data.dataset", 1, &spec).ok());
}

TEST(SpecTest, FamilyDefaultsFillOnlyTheirOwnKnobs) {
  v1::ExperimentSpec vit;
  vit.mutable_model()->set_family(v1::ModelSpec::VIT);
  v1::ExperimentSpec r = ResolveDefaults(vit);
  EXPECT_EQ(r.model().patch_size(), 7);  // 28-pixel images
  EXPECT_EQ(r.model().dim(), 64);
  EXPECT_FALSE(r.model().has_width());
  EXPECT_TRUE(ValidateExperiment(r, "").ok());
  vit.mutable_data()->set_dataset("cifar10");
  vit.mutable_data()->set_path("/data/cifar-10-batches-bin");
  r = ResolveDefaults(vit);
  EXPECT_EQ(r.model().patch_size(), 4);  // 32-pixel images
  EXPECT_EQ(r.data().pretrain_pool(), 40000);
  EXPECT_TRUE(ValidateExperiment(r, "").ok());
  v1::ExperimentSpec resnet;
  resnet.mutable_model()->set_family(v1::ModelSpec::RESNET);
  r = ResolveDefaults(resnet);
  EXPECT_DOUBLE_EQ(r.model().width_multiplier(), 0.25);
  EXPECT_EQ(r.model().blocks_per_stage(), 1);
  // The same count the trainer reports for experiment_resnet-like models.
  r.mutable_model()->set_width_multiplier(0.25);
  EXPECT_EQ(EstimateParameterCount(r), 5142);
}

TEST(SpecTest, CostEstimateMatchesTheModel) {
  v1::ExperimentSpec spec;
  spec.mutable_model()->set_width(32);
  spec.mutable_pretrain()->set_examples(1000);
  const v1::ExperimentSpec r = ResolveDefaults(spec);
  // 784 -> 32 -> 32 plus two 5-way heads: what the trainer reports.
  EXPECT_EQ(EstimateParameterCount(r), 26506);
  EXPECT_EQ(TrainingSamples(r), 600 * 128 + 2 * 300 * 64);
  spec.mutable_pretrain()->set_examples(0);
  EXPECT_EQ(TrainingSamples(ResolveDefaults(spec)), 2 * 300 * 64);
  // A step's FLOPs by the phase the trainer reports.
  EXPECT_DOUBLE_EQ(StepFlops(r, "pretrain"), 6.0 * 26506 * 128);
  EXPECT_DOUBLE_EQ(StepFlops(r, "task:B"), 6.0 * 26506 * 64);
  EXPECT_DOUBLE_EQ(StepFlops(r, "load"), 0);
}

TEST(SpecTest, DeviceMemoryEstimateCountsStateActivationsAndEvaluation) {
  v1::ExperimentSpec spec;
  spec.mutable_model()->set_width(512);
  v1::ExperimentSpec r = ResolveDefaults(spec);
  const int64_t params = EstimateParameterCount(r);
  // Weights, gradients and momentum; then the larger of a training batch's
  // activations and gradients (128 x (784 + 3 x 2 x 512) floats, twice) and
  // three input-sized layers of a 10,000-image evaluation pass.
  const int64_t evaluation = 3 * 10000 * 784;
  ASSERT_GT(evaluation, 2 * 128 * (784 + 3 * 2 * 512));
  EXPECT_EQ(EstimateDeviceBytes(r),
            4 * (3 * params + evaluation) + kJobDeviceOverheadBytes);
  // Wider, deeper and bigger batches need more; a convolutional net keeps
  // far more activations per sample than an MLP of its parameter count.
  spec.mutable_model()->set_width(2048);
  const int64_t wide = EstimateDeviceBytes(ResolveDefaults(spec));
  EXPECT_GT(wide, EstimateDeviceBytes(r));
  spec.mutable_pretrain()->set_batch_size(4096);
  EXPECT_GT(EstimateDeviceBytes(ResolveDefaults(spec)), wide);
  v1::ExperimentSpec resnet;
  resnet.mutable_model()->set_family(v1::ModelSpec::RESNET);
  resnet.mutable_pretrain()->set_batch_size(1024);
  r = ResolveDefaults(resnet);
  EXPECT_GT(EstimateDeviceBytes(r) - kJobDeviceOverheadBytes,
            200 * 4 * EstimateParameterCount(r));
  // An LM keeps two AdamW moments and its logits per predicted byte.
  v1::ExperimentSpec lm;
  lm.mutable_model()->set_family(v1::ModelSpec::LM);
  r = ResolveDefaults(lm);
  EXPECT_GT(EstimateDeviceBytes(r),
            4 * 4 * EstimateParameterCount(r) + kJobDeviceOverheadBytes);
}

TEST(SpecIoTest, TextErrorsNameLineColumnAndField) {
  v1::SweepSpec sweep;
  absl::Status s =
      ParseSpecText("sweep.textproto",
                    "name: 'x'\nbase {\n  model { widht: 3 }\n}\n", &sweep);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("sweep.textproto:3:"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("widht"));

  s = ParseSpecText("bad.textproto", "axes { path: 'x' values: [1, }", &sweep);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("bad.textproto:1:"));
}

TEST(SpecIoTest, JsonIsAccepted) {
  v1::SweepSpec sweep;
  ASSERT_TRUE(ParseSpecText("s.json",
                            R"({"base": {"model": {"width": 64}},
                                "axes": [{"path": "pretrain.examples", "values": [0, 100]}],
                                "seeds": [0, 1]})",
                            &sweep)
                  .ok());
  auto jobs = ExpandSweep(sweep, 100);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 4u);
  absl::Status s = ParseSpecText("s.json", R"({"bse": {}})", &sweep);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("bse"));
}

TEST(SpecIoTest, MissingFileIsNotFound) {
  v1::SweepSpec sweep;
  absl::Status s = ParseSpecFile("/nonexistent/sweep.textproto", &sweep);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("No such file or directory"));
  s = ParseSpecFile("/", &sweep);
  EXPECT_THAT(std::string(s.message()), HasSubstr("Is a directory"));
}

TEST(SpecIoTest, BadFilesSayWhatIsWrongAndWhere) {
  v1::SweepSpec sweep;
  auto message = [&](const std::string& name, const std::string& text) {
    return std::string(ParseSpecText(name, text, &sweep).message());
  };
  EXPECT_THAT(message("s.textproto", " \n\n"),
              HasSubstr("s.textproto: sweep file is empty"));
  EXPECT_THAT(message("s.json", ""), HasSubstr("sweep file is empty"));
  EXPECT_THAT(message("s.textproto", std::string("\x7f"
                                                 "ELF\0\0",
                                                 6)),
              HasSubstr("not a text or JSON sweep"));
  // JSON syntax and unknown fields at line:column.
  EXPECT_THAT(message("s.json", "{\n  \"name\": \"x\"\n  \"seeds\": []\n}"),
              HasSubstr("s.json:3:3: not valid JSON"));
  EXPECT_THAT(message("s.json", "{\"base\": {\n \"modle\": {}}}"),
              HasSubstr("s.json:2:2: base.modle: no such field"));
  // Enum errors list the valid values, in both formats.
  EXPECT_THAT(
      message("s.json", "{\"base\": {\"model\": {\"family\": \"CNN\"}}}"),
      HasSubstr("\"CNN\" is not one of MLP, RESNET, VIT"));
  EXPECT_THAT(message("s.textproto", "base { model { family: CNN } }"),
              HasSubstr("valid values: MLP, RESNET, VIT"));
}

}  // namespace
}  // namespace forgetlab
