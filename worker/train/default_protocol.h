// The default protocol of DESIGN.md, written once. The trainer's
// ExperimentConfig{} and the spec rules' ResolveDefaults both take their
// numbers from here, and a test (proto/spec/defaults_test.cc) checks field by
// field that the two agree. Constants only: no LibTorch, no protobuf, so
// every library may include it.
#ifndef FORGETLAB_WORKER_TRAIN_DEFAULT_PROTOCOL_H_
#define FORGETLAB_WORKER_TRAIN_DEFAULT_PROTOCOL_H_

#include <cstdint>

namespace forgetlab::protocol {

// Data: Fashion-MNIST from Debian's dataset-fashion-mnist.
inline constexpr char kFashionMnistPath[] = "/usr/share/datasets/fashion-mnist";
inline constexpr int64_t kFashionMnistPretrainPool = 50000;  // train 0..49999
inline constexpr int64_t kCifar10PretrainPool = 40000;
// The seeded synthetic image set (tests, quick sweeps).
inline constexpr int64_t kSyntheticTrain = 1200;
inline constexpr int64_t kSyntheticTest = 400;
inline constexpr int64_t kSyntheticSide = 8;
inline constexpr int64_t kSyntheticSeed = 7;
inline constexpr int64_t kSyntheticChannels = 1;
inline constexpr int64_t kSyntheticClasses = 10;

// Models. MLP:
inline constexpr int kMlpDepth = 2;
inline constexpr int kMlpWidth = 128;
// ResNet:
inline constexpr double kResnetWidthMultiplier = 0.25;
inline constexpr int kResnetBlocksPerStage = 1;
// ViT (the patch size defaults to 7 for 28-pixel images; see
// ResolveDefaults for other sides):
inline constexpr int kVitPatchSize = 7;
inline constexpr int kVitDim = 64;
inline constexpr int kVitDepth = 2;
inline constexpr int kVitHeads = 4;
inline constexpr int kVitMlpRatio = 2;
inline constexpr char kVitPooling[] = "cls";

// Pretraining on the first N pool images (N = 0: from scratch).
inline constexpr int64_t kPretrainExamples = 0;
inline constexpr int kPretrainSteps = 600;
inline constexpr int kPretrainBatch = 128;
inline constexpr double kPretrainLr = 0.05;

// Tasks: A = classes 0-4, then B = classes 5-9 (task t has classes
// t * kClassesPerTask .. (t + 1) * kClassesPerTask - 1).
inline constexpr const char* kTaskNames[] = {"A", "B"};
inline constexpr int kClassesPerTask = 5;
inline constexpr int kTaskSteps = 300;
inline constexpr int kTaskBatch = 64;
inline constexpr double kTaskLr = 0.01;
inline constexpr double kMomentum = 0.9;
inline constexpr int kEvalEvery = 100;
inline constexpr int64_t kSeed = 0;

// The language-model track (DESIGN.md, "Language-model track"), tuned to the
// 2-core CPU budget: docs/LANGUAGE_MODELS.md gives the numbers and why.
inline constexpr int kLmDim = 64;
inline constexpr int kLmDepth = 2;
inline constexpr int kLmHeads = 4;
inline constexpr int kLmContext = 64;
inline constexpr int kLmMlpRatio = 4;
inline constexpr char kLmPretrainDomain[] = "dictionary";
inline constexpr const char* kLmTaskDomains[] = {"prose", "code"};
inline constexpr int kLmPretrainSteps = 240;
inline constexpr int kLmPretrainBatch = 32;
inline constexpr double kLmPretrainLr = 1e-2;
inline constexpr int kLmWarmupSteps = 24;
inline constexpr int kLmTaskSteps = 120;
inline constexpr int kLmTaskBatch = 32;
inline constexpr double kLmTaskLr = 3e-3;
inline constexpr int kLmEvalEvery = 40;
inline constexpr double kLmReplayFraction = 0.0;
// Fixed for every job: AdamW's betas and eps (no weight decay), the
// gradient-norm clip, and the held-out evaluation windows.
inline constexpr double kLmBeta1 = 0.9;
inline constexpr double kLmBeta2 = 0.95;
inline constexpr double kLmEps = 1e-8;
inline constexpr double kLmGradClip = 1.0;
inline constexpr int kLmEvalWindows = 128;
inline constexpr int64_t kLmEvalSeed = 20231;

}  // namespace forgetlab::protocol

#endif  // FORGETLAB_WORKER_TRAIN_DEFAULT_PROTOCOL_H_
