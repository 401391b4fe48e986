// forgetlab-train-bench: trains one experiment from command-line overrides
// and prints one JSON line of timings. No server or protobuf, so the same
// binary runs in the standalone CUDA build of worker/train, where
// tests/bench/trainer_vs_pytorch.py drives it.
//   forgetlab-train-bench --width=512 --pretrain_examples=50000 --device=cpu
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "worker/train/experiment.h"

namespace {

using forgetlab::train::ExperimentConfig;
using forgetlab::train::RunOptions;

// What the flags set.
struct Settings {
  ExperimentConfig config;
  RunOptions options;
  int repeats = 1;  // runs in this process; the last one is reported
};

// One --name=value flag and how it sets the settings.
struct Flag {
  const char* name;
  std::function<void(const std::string&, Settings*)> set;
};

int Int(const std::string& v) { return std::atoi(v.c_str()); }
long long Int64(const std::string& v) { return std::atoll(v.c_str()); }
double Real(const std::string& v) { return std::atof(v.c_str()); }

const std::vector<Flag>& Flags() {
  static const auto* flags = new std::vector<Flag>{
      {"family", [](auto& v, Settings* s) { s->config.family = v; }},
      {"width", [](auto& v, Settings* s) { s->config.width = Int(v); }},
      {"depth", [](auto& v, Settings* s) { s->config.depth = Int(v); }},
      {"width_multiplier",
       [](auto& v, Settings* s) { s->config.width_multiplier = Real(v); }},
      {"blocks_per_stage",
       [](auto& v, Settings* s) { s->config.blocks_per_stage = Int(v); }},
      {"dim", [](auto& v, Settings* s) { s->config.dim = Int(v); }},
      {"vit_depth", [](auto& v, Settings* s) { s->config.vit_depth = Int(v); }},
      {"heads", [](auto& v, Settings* s) { s->config.heads = Int(v); }},
      {"mlp_ratio", [](auto& v, Settings* s) { s->config.mlp_ratio = Int(v); }},
      {"patch_size",
       [](auto& v, Settings* s) { s->config.patch_size = Int(v); }},
      {"pretrain_examples",
       [](auto& v, Settings* s) { s->config.pretrain_examples = Int64(v); }},
      {"pretrain_steps",
       [](auto& v, Settings* s) { s->config.pretrain_steps = Int(v); }},
      {"pretrain_batch",
       [](auto& v, Settings* s) { s->config.pretrain_batch = Int(v); }},
      {"pretrain_lr",
       [](auto& v, Settings* s) { s->config.pretrain_lr = Real(v); }},
      {"task_steps",
       [](auto& v, Settings* s) { s->config.task_steps = Int(v); }},
      {"task_batch",
       [](auto& v, Settings* s) { s->config.task_batch = Int(v); }},
      {"task_lr", [](auto& v, Settings* s) { s->config.task_lr = Real(v); }},
      {"momentum", [](auto& v, Settings* s) { s->config.momentum = Real(v); }},
      {"eval_every",
       [](auto& v, Settings* s) { s->config.eval_every = Int(v); }},
      {"seed", [](auto& v, Settings* s) { s->config.seed = Int64(v); }},
      {"dataset",
       [](auto& v, Settings* s) {
         s->config.data.dataset = v;
         if (v == "synthetic") s->config.data.pretrain_pool = 1000;
       }},
      {"data_path", [](auto& v, Settings* s) { s->config.data.path = v; }},
      {"device", [](auto& v, Settings* s) { s->options.device = v; }},
      {"threads", [](auto& v, Settings* s) { s->options.threads = Int(v); }},
      {"repeats", [](auto& v, Settings* s) { s->repeats = Int(v); }},
      // 0: MLPs through autograd, for a side-by-side with the hand-written
      // step (the default, 1).
      {"mlp_fast_path",
       [](auto& v, Settings* s) { s->options.mlp_fast_path = Int(v) != 0; }},
  };
  return *flags;
}

bool ParseFlag(const char* arg, Settings* settings) {
  if (std::strncmp(arg, "--", 2) != 0) return false;
  const char* eq = std::strchr(arg, '=');
  if (eq == nullptr) return false;
  const std::string name(arg + 2, eq);
  for (const Flag& flag : Flags()) {
    if (name == flag.name) {
      flag.set(eq + 1, settings);
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i], &settings)) {
      std::string names;
      for (const Flag& flag : Flags()) names += std::string(" --") + flag.name;
      std::fprintf(stderr, "unknown flag %s; flags (all --name=value):%s\n",
                   argv[i], names.c_str());
      return 2;
    }
  }
  const ExperimentConfig& config = settings.config;
  forgetlab::train::ExperimentResult result;
  // Later repeats run warm: the dataset is loaded and, on a GPU, the CUDA
  // context, libraries and kernels are too.
  for (int i = 0; i < std::max(1, settings.repeats); ++i) {
    const forgetlab::train::TrainStatus status =
        forgetlab::train::RunExperiment(config, settings.options, &result);
    if (!status.ok()) {
      std::fprintf(stderr, "error: %s\n", status.message.c_str());
      return 1;
    }
  }
  std::printf(
      "{\"device\": \"%s\", \"family\": \"%s\", \"width\": %d, "
      "\"pretrain_examples\": %lld, \"parameter_count\": %lld, "
      "\"forgetting\": %.4f, \"acc\": %.4f, \"pretrain_seconds\": %.3f, "
      "\"finetune_seconds\": %.3f, \"total_seconds\": %.3f, "
      "\"samples_per_second\": %.1f, \"blas\": \"%s\"}\n",
      result.device.c_str(), config.family.c_str(), config.width,
      static_cast<long long>(config.pretrain_examples),
      static_cast<long long>(result.parameter_count),
      result.metrics["forgetting"], result.metrics["acc"],
      result.pretrain_seconds, result.finetune_seconds, result.total_seconds,
      result.samples_per_second, forgetlab::train::BlasLibrary().c_str());
  return 0;
}
