// DESIGN.md's language-model protocol: windows, phases, AdamW, evaluation.
#include "worker/train/lm_trainer.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "worker/train/adamw.h"
#include "worker/train/checkpoint.h"
#include "worker/train/forgetting_metrics.h"
#include "worker/train/lm_metrics.h"
#include "worker/train/lm_model.h"
#include "worker/train/run_record.h"
#include "worker/train/text_data.h"

namespace forgetlab::train {
namespace {

constexpr int kProgressEvery = 10;
const double kLn2 = std::log(2.0);

// The non-overlapping `width`-byte windows of `text`, as uint8 [n, width].
torch::Tensor Windows(const std::string& text, int64_t width) {
  const int64_t n = static_cast<int64_t>(text.size()) / width;
  torch::Tensor out = torch::empty({n, width}, torch::kUInt8);
  std::memcpy(out.data_ptr<uint8_t>(), text.data(),
              static_cast<size_t>(n * width));
  return out;
}

struct Measure {
  double loss = 0;      // bits per byte
  double accuracy = 0;  // next-byte top-1
};

struct Domain {
  std::string name;
  torch::Tensor train;  // uint8 [n, context + 1], CPU
  torch::Tensor eval;   // int64 [<=128, context + 1], on the device
};

class LmTrainer {
 public:
  LmTrainer(const ExperimentConfig& config, const RunOptions& options,
            torch::Device device)
      : config_(config), options_(options), device_(device) {}

  TrainStatus Run(ExperimentResult* result);

 private:
  TrainStatus Load(const std::string& domain, Domain* out,
                   ExperimentResult* result);
  TrainStatus TrainPhase(const std::string& phase, const torch::Tensor& set,
                         int steps, int batch, double lr, int warmup, int stage,
                         at::Generator& generator, ExperimentResult* result);
  Measure Evaluate(const Domain& domain);
  CurvePoint Point(int stage, int step);

  const ExperimentConfig& config_;
  const RunOptions& options_;
  torch::Device device_;
  ByteLm model_{nullptr};
  std::vector<Domain> tasks_;
  Domain pool_;
  torch::Tensor replay_set_;  // the N pretraining windows
  int64_t steps_done_ = 0, total_steps_ = 0, samples_ = 0;
};

TrainStatus LmTrainer::Load(const std::string& name, Domain* out,
                            ExperimentResult* result) {
  std::shared_ptr<const TextDomain> text;
  TrainStatus s = GetTextDomain(config_.data.path, name, &text);
  if (!s.ok()) return s;
  result->data_sha256[name] = text->sha256;
  const int64_t width = config_.context + 1;
  out->name = name;
  out->train = Windows(text->train, width);
  const torch::Tensor heldout = Windows(text->heldout, width);
  if (out->train.size(0) == 0 || heldout.size(0) == 0) {
    return {TrainCode::kInvalidArgument,
            "text domain '" + name + "' has too little text for one " +
                std::to_string(width) + "-byte window in its train or " +
                "held-out split (every 10th document is held out)"};
  }
  // The same windows for every job: a fixed generator, not the job's.
  at::Generator pick = at::detail::createCPUGenerator(protocol::kLmEvalSeed);
  const torch::Tensor chosen =
      torch::randperm(heldout.size(0), pick, torch::kInt64)
          .slice(0, 0, protocol::kLmEvalWindows);
  out->eval = heldout.index_select(0, chosen).to(torch::kInt64).to(device_);
  return {};
}

Measure LmTrainer::Evaluate(const Domain& domain) {
  torch::NoGradGuard no_grad;
  const int64_t c = config_.context;
  const torch::Tensor inputs = domain.eval.slice(1, 0, c);
  const torch::Tensor targets = domain.eval.slice(1, 1, c + 1);
  const torch::Tensor logits = model_->forward(inputs);
  const double nats =
      torch::nn::functional::cross_entropy(
          logits.reshape({-1, LmShape::kVocabulary}), targets.reshape({-1}))
          .item<double>();
  const double hits = logits.argmax(-1).eq(targets).sum().item<int64_t>() /
                      static_cast<double>(targets.numel());
  return {nats / kLn2, hits};
}

CurvePoint LmTrainer::Point(int stage, int step) {
  CurvePoint point{stage, step, {}, {}, true, 0, 0};
  for (const Domain& task : tasks_) {
    const Measure m = Evaluate(task);
    point.accuracy.push_back(m.accuracy);
    point.loss.push_back(m.loss);
  }
  const Measure pool = Evaluate(pool_);
  point.pool_loss = pool.loss;
  point.pool_accuracy = pool.accuracy;
  return point;
}

TrainStatus LmTrainer::TrainPhase(const std::string& phase,
                                  const torch::Tensor& set, int steps,
                                  int batch, double lr, int warmup, int stage,
                                  at::Generator& generator,
                                  ExperimentResult* result) {
  const int64_t n = set.size(0);
  if (n == 0) {
    return {TrainCode::kInvalidArgument,
            "phase " + phase + " has no training windows"};
  }
  // Replay (fine-tuning only): round(p x batch) windows of each batch come
  // from the pretraining windows.
  int64_t replay = 0;
  if (stage >= 0 && replay_set_.defined() && replay_set_.size(0) > 0) {
    replay = std::llround(config_.replay_fraction * batch);
  }
  std::vector<torch::Tensor> params = model_->parameters();
  AdamW optimizer(params, AdamWOptions{protocol::kLmBeta1, protocol::kLmBeta2,
                                       protocol::kLmEps, 0.0});
  const int64_t c = config_.context;
  LossCheck losses(phase);
  for (int step = 1; step <= steps; ++step) {
    if (options_.cancel != nullptr && options_.cancel->load()) {
      return {TrainCode::kCancelled,
              "cancelled at " + phase + " step " + std::to_string(step)};
    }
    // Draw order: the phase's windows, then the replayed ones.
    torch::Tensor rows = set.index_select(
        0, torch::randint(n, {batch - replay}, generator, torch::kInt64));
    if (replay > 0) {
      rows =
          torch::cat({rows, replay_set_.index_select(
                                0, torch::randint(replay_set_.size(0), {replay},
                                                  generator, torch::kInt64))});
    }
    const torch::Tensor windows = rows.to(device_).to(torch::kInt64);
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    const torch::Tensor logits = model_->forward(windows.slice(1, 0, c));
    torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.reshape({-1, LmShape::kVocabulary}),
        windows.slice(1, 1, c + 1).reshape({-1}));
    loss.backward();
    ClipGradNorm(params, protocol::kLmGradClip);
    const double rate = warmup > 0 && step < warmup ? lr * step / warmup : lr;
    optimizer.Step(rate);
    losses.Add(loss);
    ++steps_done_;
    samples_ += batch;
    if (step % kProgressEvery == 0 || step == steps) {
      TrainStatus s = losses.Check();
      if (!s.ok()) return s;
      if (options_.on_progress) {
        options_.on_progress(Progress{phase, steps_done_, total_steps_});
      }
    }
    if (stage >= 0 && config_.eval_every > 0 &&
        step % config_.eval_every == 0 && step != steps) {
      result->curves.push_back(Point(stage, step));
    }
  }
  return {};
}

TrainStatus LmTrainer::Run(ExperimentResult* result) {
  const auto start = Clock::now();
  const int k = static_cast<int>(config_.tasks.size());
  if (config_.dim % config_.heads != 0) {
    return {TrainCode::kInvalidArgument,
            "model.heads " + std::to_string(config_.heads) +
                " does not divide model.dim " + std::to_string(config_.dim)};
  }
  TrainStatus s = Load(config_.data.pretrain_domain, &pool_, result);
  if (!s.ok()) return s;
  tasks_.resize(static_cast<size_t>(k));
  for (int i = 0; i < k; ++i) {
    s = Load(config_.tasks[static_cast<size_t>(i)].domain,
             &tasks_[static_cast<size_t>(i)], result);
    if (!s.ok()) return s;
  }
  const int64_t n = config_.pretrain_examples;
  if (n > pool_.train.size(0)) {
    return {TrainCode::kInvalidArgument,
            "pretrain.examples is " + std::to_string(n) + " but domain '" +
                pool_.name + "' has " + std::to_string(pool_.train.size(0)) +
                " train windows of " + std::to_string(config_.context + 1) +
                " bytes"};
  }
  const bool pretrain = n > 0;
  total_steps_ =
      (pretrain ? config_.pretrain_steps : 0) +
      (options_.pretrain_only ? 0
                              : static_cast<int64_t>(k) * config_.task_steps);
  {
    // Weights come from the global generator; construction is serialised.
    std::lock_guard<std::mutex> lock(GlobalGeneratorMutex());
    torch::manual_seed(static_cast<uint64_t>(config_.seed));
    model_ = ByteLm(LmShape{config_.dim, config_.lm_depth, config_.heads,
                            config_.context, config_.mlp_ratio});
  }
  model_->to(device_);

  PoolTrace trace;
  if (pretrain) {
    const auto pretrain_start = Clock::now();
    at::Generator generator =
        at::detail::createCPUGenerator(static_cast<uint64_t>(config_.seed));
    replay_set_ = pool_.train.index_select(
        0, torch::randperm(pool_.train.size(0), generator, torch::kInt64)
               .slice(0, 0, n));
    // Pretrained weights from --checkpoint_dir stand in for pretraining: the
    // replay windows above are drawn first, and the tasks have a generator
    // of their own, so the task phases see the same batches either way.
    const PretrainFiles files = ChoosePretrainFiles(
        options_, PretrainCheckpointPath(options_.checkpoint_dir, config_));
    if (!files.load.empty() &&
        LoadModules(files.load, device_, {{"model", model_.get()}})) {
      steps_done_ += config_.pretrain_steps;
    } else if (files.must_load) {
      return MissingPretrainedWeights(files.load);
    } else {
      s = TrainPhase("pretrain", replay_set_, config_.pretrain_steps,
                     config_.pretrain_batch, config_.pretrain_lr,
                     config_.warmup_steps, -1, generator, result);
      if (!s.ok()) return s;
      if (!files.save.empty())
        SaveModules(files.save, {{"model", model_.get()}});
    }
    const Measure m = Evaluate(pool_);
    trace.loss_after_pretraining = m.loss;
    trace.accuracy_after_pretraining = m.accuracy;
    result->pretrain_seconds = SecondsSince(pretrain_start);
    if (options_.pretrain_only) return {};
  }

  at::Generator generator = at::detail::createCPUGenerator(
      static_cast<uint64_t>(config_.seed) + 0x9E3779B97F4A7C15ull);
  const auto finetune_start = Clock::now();
  for (int i = 0; i < k; ++i) {
    const TaskConfig& task = config_.tasks[static_cast<size_t>(i)];
    s = TrainPhase("task:" + task.name, tasks_[static_cast<size_t>(i)].train,
                   config_.task_steps, config_.task_batch, config_.task_lr, 0,
                   i, generator, result);
    if (!s.ok()) return s;
    CurvePoint point = Point(i, config_.task_steps);
    result->accuracy_matrix.push_back(point.accuracy);
    result->loss_matrix.push_back(point.loss);
    trace.loss_after_task.push_back(point.pool_loss);
    trace.accuracy_after_task.push_back(point.pool_accuracy);
    if (config_.eval_every > 0) result->curves.push_back(std::move(point));
  }
  result->finetune_seconds = SecondsSince(finetune_start);

  result->metrics = ComputeForgettingMetrics(result->accuracy_matrix);
  for (const auto& [name, value] :
       ComputeLmMetrics(result->loss_matrix, pretrain ? &trace : nullptr)) {
    result->metrics[name] = value;
  }
  int64_t parameters = 0;
  for (const auto& p : model_->parameters()) parameters += p.numel();
  RecordRun(parameters, device_, start, samples_, result);
  return {};
}

}  // namespace

TrainStatus RunLmExperiment(const ExperimentConfig& config,
                            const RunOptions& options, torch::Device device,
                            ExperimentResult* result) {
  LmTrainer trainer(config, options, device);
  return trainer.Run(result);
}

}  // namespace forgetlab::train
