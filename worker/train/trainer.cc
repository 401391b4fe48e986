// The experiment protocol of DESIGN.md on LibTorch: pretrain, train the task
// sequence, evaluate after every task and every eval_every steps.
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "worker/train/checkpoint.h"
#include "worker/train/dataset.h"
#include "worker/train/experiment.h"
#include "worker/train/forgetting_metrics.h"
#include "worker/train/lm_trainer.h"
#include "worker/train/mlp_step.h"
#include "worker/train/models.h"
#include "worker/train/momentum_sgd.h"
#include "worker/train/run_record.h"

namespace forgetlab::train {
namespace {

constexpr int kProgressEvery = 10;  // steps between progress callbacks
constexpr int kIndexChunk = 64;  // steps whose batch indices are drawn at once

// The examples one phase trains on: row indices into the train images and
// the labels the phase's head predicts, aligned.
struct TrainSplit {
  torch::Tensor rows;    // int64 [n], CPU
  torch::Tensor labels;  // int64 [n], on the training device
};

struct TestSplit {
  torch::Tensor images;
  torch::Tensor labels;
};

// Maps original labels to 0..classes-1 in the listed order, -1 elsewhere.
torch::Tensor LabelMap(const std::vector<int>& classes, int num_classes) {
  std::vector<int64_t> map(static_cast<size_t>(num_classes), -1);
  for (size_t i = 0; i < classes.size(); ++i) {
    map[static_cast<size_t>(classes[i])] = static_cast<int64_t>(i);
  }
  return torch::tensor(map, torch::kInt64);
}

// Rows in [begin, end) of `labels` whose class is in `classes`.
torch::Tensor RowsWithClasses(const torch::Tensor& labels_cpu, int64_t begin,
                              int64_t end, const torch::Tensor& label_map) {
  torch::Tensor mapped =
      label_map.index_select(0, labels_cpu.slice(0, begin, end));
  return torch::nonzero(mapped.ge(0)).squeeze(1).add_(begin);
}

class Trainer {
 public:
  Trainer(const ExperimentConfig& config, const RunOptions& options,
          const Dataset& data, torch::Device device)
      : config_(config), options_(options), data_(data), device_(device) {}

  TrainStatus Run(ExperimentResult* result);

 private:
  TrainStatus TrainPhase(const std::string& phase, torch::nn::Linear head,
                         const TrainSplit& split, int steps, int batch,
                         double lr, int stage, at::Generator& generator,
                         ExperimentResult* result);
  TrainStatus Pretrain(ExperimentResult* result);
  double Accuracy(torch::nn::Linear head, const TestSplit& split);
  std::vector<double> EvaluateTasks();
  double Overlap();
  void ReportProgress(const std::string& phase);
  torch::nn::Linear HeadOf(size_t task) {
    return config_.shared_head ? task_heads_[0] : task_heads_[task];
  }

  const ExperimentConfig& config_;
  const RunOptions& options_;
  const Dataset& data_;
  torch::Device device_;
  std::shared_ptr<Body> body_;
  torch::nn::Linear pretrain_head_{nullptr};
  std::vector<torch::nn::Linear> task_heads_;
  std::vector<TestSplit> task_tests_;
  int64_t steps_done_ = 0;
  int64_t total_steps_ = 0;
  int64_t samples_ = 0;
};

void Trainer::ReportProgress(const std::string& phase) {
  if (options_.on_progress) {
    options_.on_progress(Progress{phase, steps_done_, total_steps_});
  }
}

double Trainer::Accuracy(torch::nn::Linear head, const TestSplit& split) {
  if (split.labels.numel() == 0) return 0.0;
  torch::NoGradGuard no_grad;
  body_->eval();
  torch::Tensor predicted =
      head->forward(body_->forward(split.images)).argmax(1);
  body_->train();
  return predicted.eq(split.labels).sum().item<int64_t>() /
         static_cast<double>(split.labels.numel());
}

std::vector<double> Trainer::EvaluateTasks() {
  std::vector<double> row;
  for (size_t j = 0; j < task_tests_.size(); ++j) {
    row.push_back(Accuracy(HeadOf(j), task_tests_[j]));
  }
  return row;
}

// DESIGN.md's trace overlap of the task-1 and task-2 feature second moments
// at the penultimate layer, on the test split.
double Trainer::Overlap() {
  torch::NoGradGuard no_grad;
  body_->eval();
  auto moment = [&](const TestSplit& split) {
    const torch::Tensor f = body_->forward(split.images).to(torch::kFloat64);
    return f.t().mm(f).div(
        static_cast<double>(std::max<int64_t>(1, f.size(0))));
  };
  const torch::Tensor a = moment(task_tests_[0]);
  const torch::Tensor b = moment(task_tests_[1]);
  body_->train();
  const double ab = a.mul(b).sum().item<double>();  // Tr(A B), both symmetric
  const double aa = a.mul(a).sum().item<double>();
  const double bb = b.mul(b).sum().item<double>();
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

TrainStatus Trainer::TrainPhase(const std::string& phase,
                                torch::nn::Linear head, const TrainSplit& split,
                                int steps, int batch, double lr, int stage,
                                at::Generator& generator,
                                ExperimentResult* result) {
  const int64_t n = split.rows.size(0);
  if (n == 0) {
    return {TrainCode::kInvalidArgument,
            "phase " + phase + " has no training examples"};
  }
  std::vector<torch::Tensor> params = body_->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  // A fresh optimiser per phase, over the body and this phase's head.
  MomentumSgd optimizer(params, lr, config_.momentum);
  // Batch buffers are reused across steps: no per-step allocation of the
  // (large) input batch.
  torch::Tensor images =
      torch::empty({batch, data_.shape.size()}, data_.train_images.options());
  torch::Tensor labels = torch::empty({batch}, split.labels.options());
  std::optional<MlpStep> mlp_step;
  std::vector<torch::nn::Linear> relu_layers = body_->relu_layers();
  if (options_.mlp_fast_path && !relu_layers.empty()) {
    mlp_step.emplace(std::move(relu_layers), head, batch, images.options());
  }
  const bool on_cpu = device_.is_cpu();
  // Batch indices are drawn for up to kIndexChunk steps at once: one
  // generator call and, on a GPU, one host-to-device copy per chunk instead of
  // two synchronising copies per step. The draws are the same sequence as one
  // call per step, so results do not depend on the chunking.
  torch::Tensor chunk_picks, chunk_rows;
  LossCheck losses(phase);
  for (int step = 1; step <= steps; ++step) {
    if (options_.cancel != nullptr && options_.cancel->load()) {
      return {TrainCode::kCancelled,
              "cancelled at " + phase + " step " + std::to_string(step)};
    }
    const int in_chunk = (step - 1) % kIndexChunk;
    if (in_chunk == 0) {
      const int count = std::min(kIndexChunk, steps - step + 1);
      chunk_picks = torch::randint(n, {count, batch}, generator,
                                   torch::TensorOptions(torch::kInt64));
      chunk_rows = split.rows.index_select(0, chunk_picks.view({-1}))
                       .view({count, batch});
      if (!on_cpu) {
        chunk_picks = chunk_picks.to(device_);
        chunk_rows = chunk_rows.to(device_);
      }
    }
    torch::index_select_out(images, data_.train_images, 0,
                            chunk_rows.select(0, in_chunk));
    torch::index_select_out(labels, split.labels, 0,
                            chunk_picks.select(0, in_chunk));
    torch::Tensor loss;
    if (mlp_step.has_value()) {
      loss = mlp_step->Run(images, labels);
    } else {
      // Gradients set to none rather than zero-filled: backward then writes
      // them instead of accumulating into zeros (PERF-NOTES.md, section 2).
      for (auto& p : params) p.mutable_grad() = torch::Tensor();
      loss = torch::nn::functional::cross_entropy(
          head->forward(body_->forward(images)), labels);
      loss.backward();
    }
    optimizer.Step();
    losses.Add(loss);
    ++steps_done_;
    samples_ += batch;
    if (step % kProgressEvery == 0 || step == steps) {
      TrainStatus s = losses.Check();
      if (!s.ok()) return s;
      ReportProgress(phase);
    }
    if (stage >= 0 && config_.eval_every > 0 &&
        step % config_.eval_every == 0 && step != steps) {
      result->curves.push_back(CurvePoint{stage, step, EvaluateTasks()});
    }
  }
  return {};
}

TrainStatus Trainer::Pretrain(ExperimentResult* result) {
  const auto start = Clock::now();
  const torch::Tensor train_labels_cpu = data_.train_labels.cpu();
  const TestSplit test_all{data_.test_images, data_.test_labels};
  const std::string checkpoint =
      PretrainCheckpointPath(options_.checkpoint_dir, config_);
  auto restrict_classes = [&](const TestSplit& all) {
    if (config_.pretrain_classes.empty()) return all;
    const torch::Tensor map =
        LabelMap(config_.pretrain_classes, data_.num_classes);
    const torch::Tensor labels = all.labels.cpu();
    const torch::Tensor rows = RowsWithClasses(labels, 0, labels.size(0), map);
    return TestSplit{
        all.images.index_select(0, rows.to(device_)),
        map.index_select(0, labels.index_select(0, rows)).to(device_)};
  };
  const PretrainFiles files = ChoosePretrainFiles(options_, checkpoint);
  const NamedModules modules = {{"body", body_.get()},
                                {"head", pretrain_head_.get()}};
  if (!files.load.empty() && LoadModules(files.load, device_, modules)) {
    steps_done_ += config_.pretrain_steps;
  } else if (files.must_load) {
    return MissingPretrainedWeights(files.load);
  } else {
    // Pretraining has its own generator, so loading a checkpoint instead
    // leaves the task phases' batches unchanged.
    at::Generator generator =
        at::detail::createCPUGenerator(static_cast<uint64_t>(config_.seed));
    TrainSplit split;
    torch::Tensor pool =
        torch::arange(config_.data.pretrain_pool, torch::kInt64);
    torch::Tensor labels =
        train_labels_cpu.slice(0, 0, config_.data.pretrain_pool);
    if (!config_.pretrain_classes.empty()) {
      const torch::Tensor map =
          LabelMap(config_.pretrain_classes, data_.num_classes);
      pool =
          RowsWithClasses(train_labels_cpu, 0, config_.data.pretrain_pool, map);
      labels = map.index_select(0, train_labels_cpu.index_select(0, pool));
    }
    if (config_.pretrain_examples > pool.size(0)) {
      return {
          TrainCode::kInvalidArgument,
          "pretrain.examples is " + std::to_string(config_.pretrain_examples) +
              " but the pretraining pool holds " +
              std::to_string(pool.size(0)) + " images" +
              (config_.pretrain_classes.empty() ? "" : " of those classes")};
    }
    const torch::Tensor chosen =
        torch::randperm(pool.size(0), generator,
                        torch::TensorOptions(torch::kInt64))
            .slice(0, 0, config_.pretrain_examples);
    split.rows = pool.index_select(0, chosen);
    split.labels = labels.index_select(0, chosen).to(device_);
    TrainStatus s = TrainPhase("pretrain", pretrain_head_, split,
                               config_.pretrain_steps, config_.pretrain_batch,
                               config_.pretrain_lr, -1, generator, result);
    if (!s.ok()) return s;
    if (!files.save.empty()) SaveModules(files.save, modules);
  }
  result->metrics["pretrain_accuracy"] =
      Accuracy(pretrain_head_, restrict_classes(test_all));
  result->pretrain_seconds = SecondsSince(start);
  return {};
}

TrainStatus Trainer::Run(ExperimentResult* result) {
  const auto start = Clock::now();
  const int k = static_cast<int>(config_.tasks.size());
  const bool pretrain = config_.pretrain_examples > 0;
  total_steps_ =
      (pretrain ? config_.pretrain_steps : 0) +
      (options_.pretrain_only ? 0
                              : static_cast<int64_t>(k) * config_.task_steps);

  const int64_t n_train = data_.train_images.size(0);
  if (config_.data.pretrain_pool < 0 || config_.data.pretrain_pool >= n_train) {
    return {TrainCode::kInvalidArgument,
            "data.pretrain_pool is " +
                std::to_string(config_.data.pretrain_pool) +
                " but the dataset has " + std::to_string(n_train) +
                " train images; it must leave some for the tasks"};
  }
  if (config_.pretrain_examples > config_.data.pretrain_pool) {
    return {TrainCode::kInvalidArgument,
            "pretrain.examples is " +
                std::to_string(config_.pretrain_examples) +
                " but the pretraining pool holds " +
                std::to_string(config_.data.pretrain_pool) + " images"};
  }
  std::vector<int> all_classes = config_.pretrain_classes;
  for (const TaskConfig& task : config_.tasks) {
    all_classes.insert(all_classes.end(), task.classes.begin(),
                       task.classes.end());
  }
  for (int c : all_classes) {
    if (c < 0 || c >= data_.num_classes) {
      return {TrainCode::kInvalidArgument,
              "class " + std::to_string(c) +
                  " is named but the dataset has classes 0.." +
                  std::to_string(data_.num_classes - 1)};
    }
  }
  if (config_.family == "vit" &&
      (data_.shape.height % config_.patch_size != 0 ||
       data_.shape.width % config_.patch_size != 0)) {
    return {TrainCode::kInvalidArgument,
            "model.patch_size " + std::to_string(config_.patch_size) +
                " does not divide the " + std::to_string(data_.shape.height) +
                "x" + std::to_string(data_.shape.width) + " images"};
  }

  // Weights: LibTorch's default initialisation after seeding, in a fixed
  // order (body, pretraining head, task heads). The global seed is process
  // state, so construction is serialised.
  {
    std::lock_guard<std::mutex> lock(GlobalGeneratorMutex());
    torch::manual_seed(static_cast<uint64_t>(config_.seed));
    body_ = MakeBody(config_, data_.shape);
    const int pretrain_classes =
        config_.pretrain_classes.empty()
            ? data_.num_classes
            : static_cast<int>(config_.pretrain_classes.size());
    pretrain_head_ = torch::nn::Linear(body_->feature_size(), pretrain_classes);
    size_t widest = 0;
    for (const TaskConfig& task : config_.tasks) {
      widest = std::max(widest, task.classes.size());
      if (!config_.shared_head) {
        task_heads_.push_back(torch::nn::Linear(
            body_->feature_size(), static_cast<int64_t>(task.classes.size())));
      }
    }
    if (config_.shared_head) {
      task_heads_.push_back(torch::nn::Linear(body_->feature_size(),
                                              static_cast<int64_t>(widest)));
    }
  }
  body_->to(device_);
  pretrain_head_->to(device_);
  for (auto& head : task_heads_) head->to(device_);

  const torch::Tensor train_labels_cpu = data_.train_labels.cpu();
  const torch::Tensor test_labels_cpu = data_.test_labels.cpu();
  std::vector<TrainSplit> task_trains;
  for (const TaskConfig& task : config_.tasks) {
    const torch::Tensor map = LabelMap(task.classes, data_.num_classes);
    TrainSplit train;
    train.rows = RowsWithClasses(train_labels_cpu, config_.data.pretrain_pool,
                                 n_train, map);
    train.labels =
        map.index_select(0, train_labels_cpu.index_select(0, train.rows))
            .to(device_);
    task_trains.push_back(train);
    const torch::Tensor test_rows =
        RowsWithClasses(test_labels_cpu, 0, test_labels_cpu.size(0), map);
    task_tests_.push_back(TestSplit{
        data_.test_images.index_select(0, test_rows.to(device_)),
        map.index_select(0, test_labels_cpu.index_select(0, test_rows))
            .to(device_)});
  }

  if (pretrain) {
    TrainStatus s = Pretrain(result);
    if (!s.ok() || options_.pretrain_only) return s;
  }

  // The task phases' generator: the job seed, offset so that it is not the
  // pretraining stream.
  at::Generator generator = at::detail::createCPUGenerator(
      static_cast<uint64_t>(config_.seed) + 0x9E3779B97F4A7C15ull);
  const auto finetune_start = Clock::now();
  for (int i = 0; i < k; ++i) {
    const auto task = static_cast<size_t>(i);
    TrainStatus s =
        TrainPhase("task:" + config_.tasks[task].name, HeadOf(task),
                   task_trains[task], config_.task_steps, config_.task_batch,
                   config_.task_lr, i, generator, result);
    if (!s.ok()) return s;
    result->accuracy_matrix.push_back(EvaluateTasks());
    if (config_.eval_every > 0) {
      result->curves.push_back(
          CurvePoint{i, config_.task_steps, result->accuracy_matrix.back()});
    }
    if (i == 0 && config_.overlap) result->metrics["overlap"] = Overlap();
  }
  result->finetune_seconds = SecondsSince(finetune_start);

  for (const auto& [name, value] :
       ComputeForgettingMetrics(result->accuracy_matrix)) {
    result->metrics[name] = value;
  }
  int64_t parameters = 0;
  for (const auto& p : body_->parameters()) parameters += p.numel();
  for (const auto& head : task_heads_) {
    for (const auto& p : head->parameters()) parameters += p.numel();
  }
  RecordRun(parameters, device_, start, samples_, result);
  return {};
}

void TuneAllocatorOnce() {
#ifdef __GLIBC__
  // Large temporaries would otherwise be mmap'ed and unmapped every step
  // (PERF-NOTES.md, section 2: 19% of the time in page faults at width 512).
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
  });
#endif
}

TrainStatus ParseDevice(const std::string& name, torch::Device* device) {
  if (name != "cpu" && name != "cuda" && name.rfind("cuda:", 0) != 0) {
    return {TrainCode::kInvalidArgument,
            "device '" + name + "' is not one of cpu, cuda, cuda:N"};
  }
  try {
    *device = torch::Device(name);
  } catch (const c10::Error&) {
    return {TrainCode::kInvalidArgument,
            "device '" + name + "' is not one of cpu, cuda, cuda:N"};
  }
  if (device->is_cuda()) {
    if (!torch::cuda::is_available()) {
      return {TrainCode::kFailedPrecondition,
              "device '" + name +
                  "' requested but this LibTorch build sees no CUDA device; "
                  "use --device=cpu"};
    }
    if (device->has_index() &&
        device->index() >= static_cast<int>(torch::cuda::device_count())) {
      return {TrainCode::kInvalidArgument,
              "device '" + name + "' does not exist; this machine has " +
                  std::to_string(torch::cuda::device_count()) +
                  " CUDA devices"};
    }
  }
  return {};
}

}  // namespace

TrainStatus RunExperiment(const ExperimentConfig& config,
                          const RunOptions& options, ExperimentResult* result) {
  TuneAllocatorOnce();
  if (config.tasks.size() < 2) {
    return {TrainCode::kInvalidArgument,
            "an experiment needs at least 2 tasks"};
  }
  *result = ExperimentResult();
  try {
    SetIntraOpThreads(options.threads);
    torch::Device device(torch::kCPU);
    TrainStatus s = ParseDevice(options.device, &device);
    if (!s.ok()) return s;
    // A job on a GPU runs on a stream of its own from LibTorch's pool, so
    // that jobs running at once (a worker's slots) overlap on the device.
    std::optional<c10::StreamGuard> stream;
    if (device.is_cuda()) {
      stream.emplace(c10::impl::VirtualGuardImpl(device.type())
                         .getStreamFromGlobalPool(device));
    }
    if (options.on_progress) options.on_progress(Progress{"load", 0, 0});
    if (config.family == "lm") {
      return RunLmExperiment(config, options, device, result);
    }
    std::shared_ptr<const Dataset> data;
    s = GetDataset(config.data, device, &data);
    if (!s.ok()) return s;
    Trainer trainer(config, options, *data, device);
    return trainer.Run(result);
  } catch (const std::bad_alloc&) {
    return {TrainCode::kResourceExhausted, "out of host memory while training"};
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos) {
      return {TrainCode::kResourceExhausted, "out of memory: " + what};
    }
    return {TrainCode::kInternal, "LibTorch error: " + what};
  } catch (const std::exception& e) {
    return {TrainCode::kInternal, std::string("training error: ") + e.what()};
  }
}

}  // namespace forgetlab::train
