#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "worker/train/dataset.h"
#include "worker/train/experiment.h"

namespace forgetlab::train {
namespace {

namespace fs = std::filesystem;

// Writes an IDX file (gzipped when the name ends in .gz) with the given
// header dimensions and payload.
void WriteIdx(const std::string& path, const std::vector<int>& dims,
              const std::vector<uint8_t>& data) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (int d : dims) {
    bytes.push_back(static_cast<uint8_t>(d >> 24));
    bytes.push_back(static_cast<uint8_t>(d >> 16));
    bytes.push_back(static_cast<uint8_t>(d >> 8));
    bytes.push_back(static_cast<uint8_t>(d));
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  if (path.size() > 3 && path.substr(path.size() - 3) == ".gz") {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
}

// A small MNIST-format folder: 10 classes of 6x6 images, each class a bright
// blob in its own place, with noise. `suffix` is ".gz" or "".
std::string MakeIdxFolder(const std::string& name, int n_train, int n_test,
                          const std::string& suffix) {
  const fs::path dir = fs::path(testing::TempDir()) / name;
  fs::create_directories(dir);
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> noise(0, 60);
  auto make = [&](int n, const std::string& images, const std::string& labels) {
    std::vector<uint8_t> pixels, classes;
    for (int i = 0; i < n; ++i) {
      const int c = i % 10;
      classes.push_back(static_cast<uint8_t>(c));
      for (int p = 0; p < 36; ++p) {
        const bool on = p == c * 3 || p == c * 3 + 1 || p == 35 - c;
        pixels.push_back(static_cast<uint8_t>(noise(rng) + (on ? 190 : 0)));
      }
    }
    WriteIdx((dir / (images + suffix)).string(), {n, 6, 6}, pixels);
    WriteIdx((dir / (labels + suffix)).string(), {n}, classes);
  };
  make(n_train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte");
  make(n_test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
  return dir.string();
}

ExperimentConfig TinySyntheticConfig() {
  ExperimentConfig config;
  config.width = 32;
  config.data.dataset = "synthetic";
  config.data.synthetic_train = 600;
  config.data.synthetic_test = 200;
  config.data.synthetic_side = 6;
  config.data.pretrain_pool = 400;
  config.pretrain_examples = 200;
  config.pretrain_steps = 40;
  config.pretrain_batch = 32;
  config.task_steps = 30;
  config.task_batch = 16;
  config.eval_every = 10;
  config.seed = 3;
  return config;
}

// A small ResNet or ViT on 8x8 RGB synthetic images.
ExperimentConfig TinyFamilyConfig(const std::string& family) {
  ExperimentConfig config = TinySyntheticConfig();
  config.family = family;
  config.data.synthetic_side = 8;
  config.data.synthetic_channels = 3;
  config.patch_size = 4;
  config.dim = 16;
  config.heads = 2;
  config.vit_depth = 1;
  config.width_multiplier = 0.25;
  config.task_steps = 60;
  config.task_lr = 0.05;
  return config;
}

TEST(IdxTest, GzippedAndRawFoldersLoadTheSame) {
  const std::string gz = MakeIdxFolder("idx_gz", 100, 50, ".gz");
  const std::string raw = MakeIdxFolder("idx_raw", 100, 50, "");
  Dataset a, b;
  ASSERT_TRUE(LoadIdxFolder(gz, 0.2860, 0.3530, &a).ok());
  ASSERT_TRUE(LoadIdxFolder(raw, 0.2860, 0.3530, &b).ok());
  EXPECT_EQ(a.train_images.sizes(), (std::vector<int64_t>{100, 36}));
  EXPECT_EQ(a.shape.height, 6);
  EXPECT_EQ(a.test_images.size(0), 50);
  EXPECT_EQ(a.num_classes, 10);
  EXPECT_TRUE(torch::equal(a.train_images, b.train_images));
  EXPECT_TRUE(torch::equal(a.test_labels, b.test_labels));
  // Normalised with the Fashion-MNIST constants: pixel 0 maps to -0.286/0.353.
  EXPECT_NEAR(torch::min(a.train_images).item<float>(), -0.2860 / 0.3530, 0.3);
}

TEST(IdxTest, MissingFileNamesPathAndPackage) {
  Dataset d;
  TrainStatus s = LoadIdxFolder("/nonexistent/forgetlab", 0.5, 0.5, &d);
  EXPECT_EQ(s.code, TrainCode::kNotFound);
  EXPECT_NE(s.message.find("/nonexistent/forgetlab"), std::string::npos);
  EXPECT_NE(s.message.find("dataset-fashion-mnist"), std::string::npos);
  // A folder without the files: the message names the file pattern.
  const fs::path empty = fs::path(testing::TempDir()) / "idx_empty";
  fs::create_directories(empty);
  s = LoadIdxFolder(empty.string(), 0.5, 0.5, &d);
  EXPECT_EQ(s.code, TrainCode::kNotFound);
  EXPECT_NE(s.message.find(empty.string() + "/*train-images*idx3-ubyte[.gz]"),
            std::string::npos)
      << s.message;
}

TEST(IdxTest, BadMagicAndTruncationAreReported) {
  const fs::path dir = fs::path(testing::TempDir()) / "idx_bad";
  fs::create_directories(dir);
  const std::string images = (dir / "bad-images").string();
  std::ofstream(images, std::ios::binary) << "not an idx file at all";
  torch::Tensor t;
  TrainStatus s = ReadIdxFile(images, 3, &t);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
  EXPECT_NE(s.message.find("bad magic"), std::string::npos);
  EXPECT_NE(s.message.find(images), std::string::npos);

  const std::string truncated = (dir / "short-images").string();
  WriteIdx(truncated, {10, 6, 6}, std::vector<uint8_t>(100, 1));
  s = ReadIdxFile(truncated, 3, &t);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
  EXPECT_NE(s.message.find("truncated"), std::string::npos);
}

TEST(TrainerTest, LearnsBothTasksAndReportsEverything) {
  ExperimentConfig config = TinySyntheticConfig();
  std::vector<Progress> progress;
  RunOptions options;
  options.on_progress = [&](const Progress& p) { progress.push_back(p); };
  ExperimentResult result;
  TrainStatus s = RunExperiment(config, options, &result);
  ASSERT_TRUE(s.ok()) << s.message;
  ASSERT_EQ(result.accuracy_matrix.size(), 2u);
  ASSERT_EQ(result.accuracy_matrix[0].size(), 2u);
  // Each task is learned well above chance (0.2) right after training it.
  EXPECT_GT(result.accuracy_matrix[0][0], 0.6);
  EXPECT_GT(result.accuracy_matrix[1][1], 0.6);
  EXPECT_NEAR(result.metrics["forgetting"],
              result.accuracy_matrix[0][0] - result.accuracy_matrix[1][0],
              1e-12);
  for (const char* name : {"avg_forgetting", "bwt", "acc", "rel_forgetting",
                           "pretrain_accuracy"}) {
    EXPECT_TRUE(result.metrics.count(name)) << name;
  }
  // 36 inputs -> 32 -> 32, plus two 5-way heads.
  EXPECT_EQ(result.parameter_count,
            (36 * 32 + 32) + (32 * 32 + 32) + 2 * (32 * 5 + 5));
  // Curves every 10 steps of each 30-step task: 3 points per task, the last
  // one equal to the matrix row.
  ASSERT_EQ(result.curves.size(), 6u);
  EXPECT_EQ(result.curves[5].stage, 1);
  EXPECT_EQ(result.curves[5].step, 30);
  EXPECT_EQ(result.curves[5].accuracy, result.accuracy_matrix[1]);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().step, 40 + 2 * 30);
  EXPECT_EQ(progress.back().total_steps, 100);
  EXPECT_EQ(result.device, "cpu");
}

TEST(TrainerTest, SameSeedIsBitIdenticalOtherSeedDiffers) {
  ExperimentConfig config = TinySyntheticConfig();
  ExperimentResult a, b, c;
  ASSERT_TRUE(RunExperiment(config, {}, &a).ok());
  ASSERT_TRUE(RunExperiment(config, {}, &b).ok());
  EXPECT_EQ(a.accuracy_matrix, b.accuracy_matrix);
  config.seed = 4;
  ASSERT_TRUE(RunExperiment(config, {}, &c).ok());
  EXPECT_NE(a.accuracy_matrix, c.accuracy_matrix);
}

TEST(TrainerTest, TrainsOnAnIdxFolder) {
  ExperimentConfig config;
  config.width = 16;
  config.data.path = MakeIdxFolder("idx_train", 500, 200, ".gz");
  config.data.pretrain_pool = 300;
  config.pretrain_examples = 300;
  config.pretrain_steps = 30;
  config.task_steps = 40;
  config.task_batch = 16;
  config.eval_every = 0;
  ExperimentResult result;
  TrainStatus s = RunExperiment(config, {}, &result);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_TRUE(result.curves.empty());
  EXPECT_GT(result.accuracy_matrix[1][1], 0.6);
}

TEST(TrainerTest, NonFiniteLossFailsWithPhaseAndStep) {
  ExperimentConfig config = TinySyntheticConfig();
  config.pretrain_examples = 0;
  config.task_lr = 1e30;
  ExperimentResult result;
  TrainStatus s = RunExperiment(config, {}, &result);
  EXPECT_EQ(s.code, TrainCode::kFailedPrecondition);
  EXPECT_EQ(s.message.rfind("non-finite loss at task:A step ", 0), 0u)
      << s.message;
}

TEST(TrainerTest, CancelStopsTraining) {
  std::atomic<bool> cancel{true};
  RunOptions options;
  options.cancel = &cancel;
  ExperimentResult result;
  TrainStatus s = RunExperiment(TinySyntheticConfig(), options, &result);
  EXPECT_EQ(s.code, TrainCode::kCancelled);
}

TEST(TrainerTest, BadInputIsInvalidArgument) {
  ExperimentConfig config = TinySyntheticConfig();
  config.pretrain_examples = 401;  // pool is 400
  ExperimentResult result;
  TrainStatus s = RunExperiment(config, {}, &result);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
  EXPECT_NE(s.message.find("pretrain.examples"), std::string::npos);

  config = TinySyntheticConfig();
  config.tasks[1].classes = {5, 6, 17};
  s = RunExperiment(config, {}, &result);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
  EXPECT_NE(s.message.find("class 17"), std::string::npos);

  config = TinySyntheticConfig();
  config.family = "vit";
  config.patch_size = 4;  // does not divide 6
  s = RunExperiment(config, {}, &result);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
  EXPECT_NE(s.message.find("patch_size"), std::string::npos);

  RunOptions options;
  options.device = "tpu";
  s = RunExperiment(TinySyntheticConfig(), options, &result);
  EXPECT_EQ(s.code, TrainCode::kInvalidArgument);
}

// The worker's --slots=auto on a GPU starts from the device's free memory.
TEST(PlatformTest, DeviceMemoryIsTheGpusAndNoneOnACpu) {
  int64_t free = -1, total = -1;
  EXPECT_FALSE(DeviceMemory("cpu", &free, &total));
  EXPECT_EQ(free, -1);
  if (!CudaAvailable()) {
    EXPECT_FALSE(DeviceMemory("cuda", &free, &total));
    GTEST_SKIP() << "no CUDA device in this build or machine";
  }
  ASSERT_TRUE(DeviceMemory("cuda:0", &free, &total));
  EXPECT_GT(free, 0);
  EXPECT_LE(free, total);
}

TEST(TrainerTest, CudaMatchesShapeWhenAvailable) {
  if (!CudaAvailable()) {
    GTEST_SKIP() << "no CUDA device in this build or machine";
  }
  RunOptions options;
  options.device = "cuda";
  ExperimentResult result;
  TrainStatus s = RunExperiment(TinySyntheticConfig(), options, &result);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(result.device, "cuda");
  ASSERT_EQ(result.accuracy_matrix.size(), 2u);
  EXPECT_GT(result.accuracy_matrix[0][0], 0.6);
}

// Same seed on the GPU and on the CPU: the same initial weights (built on the
// CPU, then moved) and the same batches (drawn on the CPU), so only rounding
// differs and the accuracies agree closely.
TEST(TrainerCudaTest, AgreesWithTheCpu) {
  if (!CudaAvailable()) {
    GTEST_SKIP() << "no CUDA device in this build or machine";
  }
  const ExperimentConfig config = TinySyntheticConfig();
  RunOptions gpu;
  gpu.device = "cuda:0";
  ExperimentResult on_cpu, on_gpu;
  ASSERT_TRUE(RunExperiment(config, {}, &on_cpu).ok());
  TrainStatus s = RunExperiment(config, gpu, &on_gpu);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(on_gpu.device, "cuda:0");
  EXPECT_EQ(on_gpu.parameter_count, on_cpu.parameter_count);
  ASSERT_EQ(on_gpu.accuracy_matrix.size(), on_cpu.accuracy_matrix.size());
  for (size_t i = 0; i < on_cpu.accuracy_matrix.size(); ++i) {
    for (size_t j = 0; j < on_cpu.accuracy_matrix[i].size(); ++j) {
      EXPECT_NEAR(on_gpu.accuracy_matrix[i][j], on_cpu.accuracy_matrix[i][j],
                  0.1)
          << "after task " << i << " on task " << j;
    }
  }
  EXPECT_NEAR(on_gpu.metrics["pretrain_accuracy"],
              on_cpu.metrics["pretrain_accuracy"], 0.1);
  EXPECT_EQ(on_gpu.curves.size(), on_cpu.curves.size());
}

TEST(TrainerCudaTest, ResNetAndVitTrainOnTheGpu) {
  if (!CudaAvailable()) {
    GTEST_SKIP() << "no CUDA device in this build or machine";
  }
  RunOptions gpu;
  gpu.device = "cuda";
  for (const char* family : {"resnet", "vit"}) {
    ExperimentConfig config = TinyFamilyConfig(family);
    config.overlap = true;
    ExperimentResult result;
    TrainStatus s = RunExperiment(config, gpu, &result);
    ASSERT_TRUE(s.ok()) << family << ": " << s.message;
    EXPECT_GT(result.accuracy_matrix[1][1], 0.4) << family;  // chance is 0.2
    EXPECT_TRUE(result.metrics.count("overlap")) << family;
  }
}

// A pretrained body saved by a CPU worker is loaded by a GPU worker sharing
// the checkpoint folder, instead of pretraining again.
TEST(TrainerCudaTest, CpuCheckpointLoadsOnTheGpu) {
  if (!CudaAvailable()) {
    GTEST_SKIP() << "no CUDA device in this build or machine";
  }
  const fs::path dir = fs::path(testing::TempDir()) / "cuda_checkpoints";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const ExperimentConfig config = TinySyntheticConfig();
  RunOptions cpu;
  cpu.checkpoint_dir = dir.string();
  ExperimentResult on_cpu, on_gpu;
  ASSERT_TRUE(RunExperiment(config, cpu, &on_cpu).ok());
  RunOptions gpu = cpu;
  gpu.device = "cuda:0";
  bool pretrained = false;
  gpu.on_progress = [&](const Progress& p) {
    pretrained = pretrained || p.phase == "pretrain";
  };
  TrainStatus s = RunExperiment(config, gpu, &on_gpu);
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_FALSE(pretrained) << "the GPU run pretrained instead of loading";
  // The same weights evaluated on the other device.
  EXPECT_NEAR(on_gpu.metrics["pretrain_accuracy"],
              on_cpu.metrics["pretrain_accuracy"], 0.02);
  EXPECT_NEAR(on_gpu.accuracy_matrix[1][1], on_cpu.accuracy_matrix[1][1], 0.1);
}

TEST(TrainerTest, CudaRequestWithoutGpuIsAClearError) {
  if (CudaAvailable()) GTEST_SKIP() << "a CUDA device is present";
  RunOptions options;
  options.device = "cuda:0";
  ExperimentResult result;
  TrainStatus s = RunExperiment(TinySyntheticConfig(), options, &result);
  EXPECT_EQ(s.code, TrainCode::kFailedPrecondition);
  EXPECT_NE(s.message.find("--device=cpu"), std::string::npos);
}

TEST(TrainerFamiliesTest, ResNetAndVitLearnTheTasks) {
  for (const char* family : {"resnet", "vit"}) {
    ExperimentConfig config = TinyFamilyConfig(family);
    ExperimentResult result;
    TrainStatus s = RunExperiment(config, {}, &result);
    ASSERT_TRUE(s.ok()) << family << ": " << s.message;
    EXPECT_GT(result.accuracy_matrix[1][1], 0.4) << family;  // chance is 0.2
    EXPECT_GT(result.parameter_count, 0);
  }
}

TEST(TrainerTasksTest, ThreeTasksSharedHeadPretrainClassesAndOverlap) {
  ExperimentConfig config = TinySyntheticConfig();
  config.tasks = {{"A", {0, 1, 2}}, {"B", {3, 4, 5}}, {"C", {6, 7}}};
  config.pretrain_classes = {8, 9};  // disjoint from every task
  config.pretrain_examples = 60;     // the pool holds 80 of them
  config.shared_head = true;
  config.overlap = true;
  ExperimentResult result;
  TrainStatus s = RunExperiment(config, {}, &result);
  ASSERT_TRUE(s.ok()) << s.message;
  ASSERT_EQ(result.accuracy_matrix.size(), 3u);
  EXPECT_EQ(result.accuracy_matrix[2].size(), 3u);
  EXPECT_TRUE(result.metrics.count("fg_relative"));
  ASSERT_TRUE(result.metrics.count("overlap"));
  EXPECT_GE(result.metrics["overlap"], 0.0);
  EXPECT_LE(result.metrics["overlap"], 1.0 + 1e-9);
  // One shared 3-way head: 36 -> 32 -> 32 body plus (32 + 1) * 3.
  EXPECT_EQ(result.parameter_count, (36 * 32 + 32) + (32 * 32 + 32) + 33 * 3);
  // Pretraining on 2 classes: a 2-way head, accuracy well above 0.5.
  EXPECT_GT(result.metrics["pretrain_accuracy"], 0.6);
}

TEST(TrainerCheckpointTest, ReloadedPretrainingGivesTheSameResult) {
  const fs::path dir = fs::path(testing::TempDir()) / "checkpoints";
  fs::remove_all(dir);
  fs::create_directories(dir);
  RunOptions options;
  options.checkpoint_dir = dir.string();
  ExperimentConfig config = TinySyntheticConfig();
  ExperimentResult fresh, reloaded, plain;
  ASSERT_TRUE(RunExperiment(config, options, &fresh).ok());
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files += entry.path().extension() == ".pt";
  }
  EXPECT_EQ(files, 1);
  ASSERT_TRUE(RunExperiment(config, options, &reloaded).ok());
  ASSERT_TRUE(RunExperiment(config, {}, &plain).ok());
  EXPECT_EQ(fresh.accuracy_matrix, reloaded.accuracy_matrix);
  EXPECT_EQ(fresh.accuracy_matrix, plain.accuracy_matrix);
  EXPECT_EQ(fresh.metrics["pretrain_accuracy"],
            reloaded.metrics["pretrain_accuracy"]);
  // A different seed is a different checkpoint.
  config.seed = 11;
  ASSERT_TRUE(RunExperiment(config, options, &fresh).ok());
  files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files += entry.path().extension() == ".pt";
  }
  EXPECT_EQ(files, 2);
}

// Shared pretraining: a pretraining-only run writes the weights, and a run
// with another fine-tuning lr that loads them gives, to the bit, what that
// run gives when it pretrains itself.
TEST(TrainerCheckpointTest, PretrainOnlyThenLoadIsBitIdentical) {
  const fs::path dir = fs::path(testing::TempDir()) / "artifact";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string file = (dir / "weights.pt").string();
  RunOptions pretrain_only;
  pretrain_only.threads = 1;
  pretrain_only.pretrain_output_path = file;
  pretrain_only.pretrain_only = true;
  ExperimentConfig config = TinySyntheticConfig();
  ExperimentResult made;
  ASSERT_TRUE(RunExperiment(config, pretrain_only, &made).ok());
  EXPECT_TRUE(made.accuracy_matrix.empty()) << "fine-tuned anyway";
  EXPECT_GT(made.pretrain_seconds, 0);
  ASSERT_TRUE(fs::exists(file));

  config.task_lr = 0.03;  // not part of pretraining
  RunOptions load;
  load.threads = 1;
  load.pretrained_path = file;
  RunOptions alone;
  alone.threads = 1;
  ExperimentResult loaded, fresh;
  ASSERT_TRUE(RunExperiment(config, load, &loaded).ok());
  ASSERT_TRUE(RunExperiment(config, alone, &fresh).ok());
  EXPECT_EQ(loaded.accuracy_matrix, fresh.accuracy_matrix);
  EXPECT_EQ(loaded.metrics, fresh.metrics);

  // The file is what counts: another seed's weights give another result.
  ExperimentConfig other = TinySyntheticConfig();
  other.seed = 11;
  ASSERT_TRUE(RunExperiment(other, pretrain_only, &made).ok());
  ASSERT_TRUE(RunExperiment(config, load, &loaded).ok());
  EXPECT_NE(loaded.accuracy_matrix, fresh.accuracy_matrix);

  // A missing file is never replaced by pretraining on the quiet.
  load.pretrained_path = (dir / "absent.pt").string();
  TrainStatus s = RunExperiment(config, load, &loaded);
  EXPECT_EQ(s.code, TrainCode::kNotFound);
  EXPECT_NE(s.message.find("absent.pt"), std::string::npos) << s.message;
}

// The hand-written MLP step makes autograd's own ATen calls: every weight,
// and so every accuracy, comes out the same to the bit.
TEST(TrainerTest, HandWrittenMlpStepMatchesAutogradBitForBit) {
  auto read = [](const fs::path& dir) {
    std::string bytes;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in),
                   std::istreambuf_iterator<char>());
    }
    return bytes;
  };
  ExperimentConfig config = TinySyntheticConfig();
  config.depth = 3;
  ExperimentResult results[2];
  std::string checkpoints[2];
  for (int fast = 0; fast < 2; ++fast) {
    const fs::path dir = fs::path(testing::TempDir()) /
                         (fast ? "mlp-step-fast" : "mlp-step-autograd");
    fs::remove_all(dir);
    fs::create_directories(dir);
    RunOptions options;
    options.mlp_fast_path = fast == 1;
    options.checkpoint_dir = dir.string();  // keeps the pretrained weights
    ASSERT_TRUE(RunExperiment(config, options, &results[fast]).ok());
    checkpoints[fast] = read(dir);
  }
  ASSERT_FALSE(checkpoints[0].empty());
  EXPECT_TRUE(checkpoints[0] == checkpoints[1])
      << "pretrained weights differ between the two paths";
  EXPECT_EQ(results[0].accuracy_matrix, results[1].accuracy_matrix);
  EXPECT_EQ(results[0].metrics, results[1].metrics);
  ASSERT_EQ(results[0].curves.size(), results[1].curves.size());
  for (size_t i = 0; i < results[0].curves.size(); ++i) {
    EXPECT_EQ(results[0].curves[i].accuracy, results[1].curves[i].accuracy);
  }
}

}  // namespace
}  // namespace forgetlab::train
