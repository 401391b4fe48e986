// The trainer's public interface: one catastrophic-forgetting experiment
// described and reported with plain structs. No LibTorch in this header, so
// the worker and the CLI can include it without the LibTorch compile cost.
#ifndef FORGETLAB_WORKER_TRAIN_EXPERIMENT_H_
#define FORGETLAB_WORKER_TRAIN_EXPERIMENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "worker/train/default_protocol.h"

namespace forgetlab::train {

// Where the images come from. Every field is resolved (no "use default").
struct DataConfig {
  // "fashion_mnist" (Fashion-MNIST's IDX folder), "idx" (any MNIST-format
  // IDX folder), "cifar10" (CIFAR-10 binary batches) or "synthetic".
  std::string dataset = "fashion_mnist";
  // The folder holding the files (fashion_mnist, idx, cifar10). For idx it
  // may end in a file-name prefix, e.g. ".../emnist/emnist-balanced".
  std::string path = protocol::kFashionMnistPath;
  // Leading train images forming the pretraining pool; the rest is the
  // downstream train split.
  int64_t pretrain_pool = protocol::kFashionMnistPretrainPool;
  // Synthetic set shape (ignored for IDX data).
  int64_t synthetic_train = protocol::kSyntheticTrain;
  int64_t synthetic_test = protocol::kSyntheticTest;
  int64_t synthetic_side = protocol::kSyntheticSide;
  int64_t synthetic_seed = protocol::kSyntheticSeed;
  int64_t synthetic_channels = protocol::kSyntheticChannels;
  int64_t synthetic_classes = protocol::kSyntheticClasses;
  // Text ("text" dataset, the LM track): the domain pretraining draws from.
  // The domains are read from `path`/<domain>/, or from Debian's packages
  // when `path` is "".
  std::string pretrain_domain = protocol::kLmPretrainDomain;
};

struct TaskConfig {
  std::string name;
  std::vector<int> classes;  // original labels, relabelled 0..n-1 in order
  std::string domain;        // LM track: the text domain it trains on
};

// The default protocol's tasks: A = classes 0-4, then B = classes 5-9.
inline std::vector<TaskConfig> DefaultTasks() {
  std::vector<TaskConfig> tasks;
  int first_class = 0;
  for (const char* name : protocol::kTaskNames) {
    TaskConfig task{name, {}};
    for (int c = 0; c < protocol::kClassesPerTask; ++c) {
      task.classes.push_back(first_class++);
    }
    tasks.push_back(std::move(task));
  }
  return tasks;
}

// One experiment, fully resolved. The defaults are DESIGN.md's default
// protocol (default_protocol.h), the same that ResolveDefaults fills in.
struct ExperimentConfig {
  std::string family = "mlp";  // "mlp", "resnet", "vit" or "lm"
  // mlp
  int depth = protocol::kMlpDepth;
  int width = protocol::kMlpWidth;
  // resnet
  double width_multiplier = protocol::kResnetWidthMultiplier;
  int blocks_per_stage = protocol::kResnetBlocksPerStage;
  // vit
  int patch_size = protocol::kVitPatchSize;
  int dim = protocol::kVitDim;
  int vit_depth = protocol::kVitDepth;
  int heads = protocol::kVitHeads;
  int mlp_ratio = protocol::kVitMlpRatio;
  std::string pooling = protocol::kVitPooling;  // or "mean"
  // lm (dim, heads and mlp_ratio above are shared with vit)
  int lm_depth = protocol::kLmDepth;
  int context = protocol::kLmContext;
  DataConfig data;
  int64_t pretrain_examples = protocol::kPretrainExamples;
  int pretrain_steps = protocol::kPretrainSteps;
  int pretrain_batch = protocol::kPretrainBatch;
  double pretrain_lr = protocol::kPretrainLr;
  std::vector<int> pretrain_classes;  // empty: every class
  std::vector<TaskConfig> tasks = DefaultTasks();
  int task_steps = protocol::kTaskSteps;
  int task_batch = protocol::kTaskBatch;
  double task_lr = protocol::kTaskLr;
  double momentum = protocol::kMomentum;
  // lm: linear warm-up steps of pretraining's learning rate, and the
  // fraction of each fine-tuning batch drawn from the pretraining windows.
  int warmup_steps = protocol::kLmWarmupSteps;
  double replay_fraction = protocol::kLmReplayFraction;
  int eval_every = protocol::kEvalEvery;  // 0: no curves
  bool shared_head = false;               // one head for every task
  bool overlap = false;  // compute the `overlap` metric after task 1
  int64_t seed = protocol::kSeed;
};

// The LM track's embedded default (DESIGN.md, "Language-model track", tuned
// to 2 cores; docs/LANGUAGE_MODELS.md), the same that ResolveDefaults fills
// in for model.family LM.
inline ExperimentConfig DefaultLmConfig() {
  ExperimentConfig c;
  c.family = "lm";
  c.dim = protocol::kLmDim;
  c.lm_depth = protocol::kLmDepth;
  c.heads = protocol::kLmHeads;
  c.context = protocol::kLmContext;
  c.mlp_ratio = protocol::kLmMlpRatio;
  c.data.dataset = "text";
  c.data.path = "";  // Debian's packages
  c.data.pretrain_pool = 0;
  c.data.pretrain_domain = protocol::kLmPretrainDomain;
  c.tasks.clear();
  for (const char* domain : protocol::kLmTaskDomains) {
    c.tasks.push_back({domain, {}, domain});
  }
  c.pretrain_steps = protocol::kLmPretrainSteps;
  c.pretrain_batch = protocol::kLmPretrainBatch;
  c.pretrain_lr = protocol::kLmPretrainLr;
  c.warmup_steps = protocol::kLmWarmupSteps;
  c.task_steps = protocol::kLmTaskSteps;
  c.task_batch = protocol::kLmTaskBatch;
  c.task_lr = protocol::kLmTaskLr;
  c.momentum = 0;  // AdamW
  c.eval_every = protocol::kLmEvalEvery;
  c.replay_fraction = protocol::kLmReplayFraction;
  return c;
}

struct Progress {
  std::string phase;  // "load", "pretrain", "task:<name>"
  int64_t step = 0;   // steps done in the whole job
  int64_t total_steps = 0;
};

struct RunOptions {
  std::string device = "cpu";  // "cpu", "cuda" or "cuda:N"
  // Intra-op threads; 0 leaves LibTorch's choice. The binaries pass
  // AvailableCpus() by default, which the 2-core CI machine measured 1.6x
  // faster than LibTorch's own default. Results are bit-identical for the
  // same spec, device and thread count only.
  int threads = 0;
  // Called from the training thread every few steps; must be cheap.
  std::function<void(const Progress&)> on_progress;
  // When set and true, training stops at the next step with kCancelled.
  const std::atomic<bool>* cancel = nullptr;
  // When set, pretrained bodies are saved here (torch::save) keyed by a hash
  // of the model, data, pretraining spec and seed, and loaded instead of
  // pretraining again.
  std::string checkpoint_dir;
  // Shared pretraining (the worker's artifacts, DESIGN.md "Shared
  // pretraining"). When set, the pretrained weights are loaded from this
  // file instead of pretraining: kNotFound when it is missing, and an error
  // when it does not load. The task phases see the same batches as a run
  // that pretrained itself, so the result is bit-identical.
  std::string pretrained_path;
  // When set, the pretrained weights are saved to this file whole
  // (SaveModules) once pretraining is done...
  std::string pretrain_output_path;
  // ...and with pretrain_only the job returns then, without fine-tuning:
  // the result holds only pretrain_seconds and the pretraining metrics.
  bool pretrain_only = false;
  // MLP bodies train through a hand-written step that makes the same ATen
  // calls as autograd (bit-identical results, less overhead per step). False
  // sends them through autograd like the other families: for tests and
  // benchmarks.
  bool mlp_fast_path = true;
};

struct CurvePoint {
  int stage = 0;                 // task being trained
  int step = 0;                  // step within that task
  std::vector<double> accuracy;  // on every task
  // LM track: bits per byte on every task, and loss and next-byte accuracy
  // on the pretraining pool's held-out windows.
  std::vector<double> loss;
  bool has_pool = false;
  double pool_loss = 0;
  double pool_accuracy = 0;
};

struct ExperimentResult {
  // accuracy_matrix[i][j]: accuracy on task j after training task i.
  std::vector<std::vector<double>> accuracy_matrix;
  // LM track: loss_matrix[i][j], bits per byte on task j after task i.
  std::vector<std::vector<double>> loss_matrix;
  std::map<std::string, double> metrics;
  std::vector<CurvePoint> curves;
  int64_t parameter_count = 0;  // body plus every task head
  double pretrain_seconds = 0;
  double finetune_seconds = 0;
  double total_seconds = 0;
  double samples_per_second = 0;
  std::string device;
  int threads = 0;  // intra-op threads it trained with
  // LM track: SHA-256 of each text domain used, after extraction.
  std::map<std::string, std::string> data_sha256;
};

// Error codes mirror absl::StatusCode's numbering for the codes used, so the
// worker can convert without a table.
enum class TrainCode {
  kOk = 0,
  kCancelled = 1,
  kInvalidArgument = 3,
  kNotFound = 5,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kInternal = 13,
};

struct TrainStatus {
  TrainCode code = TrainCode::kOk;
  std::string message;
  bool ok() const { return code == TrainCode::kOk; }
};

// Runs one experiment: pretrain on `pretrain_examples` images, then train the
// tasks in order, evaluating every task after each one. Datasets are loaded
// once per process and reused. LibTorch exceptions are turned into a status
// here (out of memory -> kResourceExhausted); a non-finite loss ends the run
// with kFailedPrecondition "non-finite loss at <phase> step <s>".
TrainStatus RunExperiment(const ExperimentConfig& config,
                          const RunOptions& options, ExperimentResult* result);

// Whether `folder` holds an MNIST-format train image file (gzipped or raw),
// without reading it.
bool IdxFolderPresent(const std::string& folder);

// The LM track's text domains whose Debian packages are installed here.
std::vector<std::string> TextDomainsPresent();

// Whether a CUDA device is usable by this build.
bool CudaAvailable();

// The free and total memory of a CUDA device ("cuda" or "cuda:N"), from the
// CUDA runtime that LibTorch loaded; false on a CPU, without CUDA, or when
// the runtime's symbols cannot be found. Creates the device's context.
bool DeviceMemory(const std::string& device, int64_t* free_bytes,
                  int64_t* total_bytes);

// Name of the BLAS library LibTorch resolves sgemm from (e.g. a path into
// openblas-openmp, with OpenBLAS's kernel set: "(SkylakeX kernels)"), or ""
// when it cannot be determined.
std::string BlasLibrary();

// When OpenBLAS did not recognise this CPU and fell back to its slowest
// kernels although the CPU has AVX2 and FMA, re-executes this program
// (argv as given to main) with OPENBLAS_CORETYPE=SkylakeX (with AVX-512) or
// Haswell. Returns only when
// nothing needed doing or the exec failed. Call it first thing in main; an
// OPENBLAS_CORETYPE already set is left alone.
void UseFastBlasKernels(char** argv);

// The CPUs this process may run on: its affinity mask, or fewer when its
// cgroup's CPU quota grants fewer cores (CgroupCpuLimit), at least 1.
int AvailableCpus();

// Sets the calling thread's intra-op thread count (OpenMP and LibTorch's
// count are per thread) and OpenBLAS's, which is one count for the process:
// once any thread ran BLAS on one thread, OpenBLAS keeps to one for every
// thread until told otherwise. Jobs that run at once in one process must
// therefore either share one count or not overlap (the worker's slots).
void SetIntraOpThreads(int threads);

// Held while a job seeds LibTorch's global generator and draws its initial
// weights from it, so that jobs running at once in one process (a worker's
// slots) never interleave their draws.
std::mutex& GlobalGeneratorMutex();

// The LibTorch version this was compiled against, e.g. "1.13.0".
std::string TorchVersion();

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_EXPERIMENT_H_
