// forgetlab-train-bench's flags and its JSON line.
#include "worker/train/bench_flags.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

namespace forgetlab::train {
namespace {

// One --name=value flag and how it sets the settings.
struct Flag {
  const char* name;
  std::function<void(const std::string&, BenchSettings*)> set;
};

int Int(const std::string& v) { return std::atoi(v.c_str()); }
long long Int64(const std::string& v) { return std::atoll(v.c_str()); }
double Real(const std::string& v) { return std::atof(v.c_str()); }

const std::vector<Flag>& Flags() {
  static const auto* flags = new std::vector<Flag>{
      // --family=lm first: it starts from the LM track's default.
      {"family",
       [](auto& v, BenchSettings* s) {
         if (v == "lm") s->config = DefaultLmConfig();
         s->config.family = v;
       }},
      {"lm_depth",
       [](auto& v, BenchSettings* s) { s->config.lm_depth = Int(v); }},
      {"context",
       [](auto& v, BenchSettings* s) { s->config.context = Int(v); }},
      {"warmup_steps",
       [](auto& v, BenchSettings* s) { s->config.warmup_steps = Int(v); }},
      {"replay_fraction",
       [](auto& v, BenchSettings* s) { s->config.replay_fraction = Real(v); }},
      {"pretrain_domain",
       [](auto& v, BenchSettings* s) { s->config.data.pretrain_domain = v; }},
      {"width", [](auto& v, BenchSettings* s) { s->config.width = Int(v); }},
      {"depth", [](auto& v, BenchSettings* s) { s->config.depth = Int(v); }},
      {"width_multiplier",
       [](auto& v, BenchSettings* s) { s->config.width_multiplier = Real(v); }},
      {"blocks_per_stage",
       [](auto& v, BenchSettings* s) { s->config.blocks_per_stage = Int(v); }},
      {"dim", [](auto& v, BenchSettings* s) { s->config.dim = Int(v); }},
      {"vit_depth",
       [](auto& v, BenchSettings* s) { s->config.vit_depth = Int(v); }},
      {"heads", [](auto& v, BenchSettings* s) { s->config.heads = Int(v); }},
      {"mlp_ratio",
       [](auto& v, BenchSettings* s) { s->config.mlp_ratio = Int(v); }},
      {"patch_size",
       [](auto& v, BenchSettings* s) { s->config.patch_size = Int(v); }},
      {"pretrain_examples",
       [](auto& v, BenchSettings* s) {
         s->config.pretrain_examples = Int64(v);
       }},
      {"pretrain_steps",
       [](auto& v, BenchSettings* s) { s->config.pretrain_steps = Int(v); }},
      {"pretrain_batch",
       [](auto& v, BenchSettings* s) { s->config.pretrain_batch = Int(v); }},
      {"pretrain_lr",
       [](auto& v, BenchSettings* s) { s->config.pretrain_lr = Real(v); }},
      {"task_steps",
       [](auto& v, BenchSettings* s) { s->config.task_steps = Int(v); }},
      {"task_batch",
       [](auto& v, BenchSettings* s) { s->config.task_batch = Int(v); }},
      {"task_lr",
       [](auto& v, BenchSettings* s) { s->config.task_lr = Real(v); }},
      {"momentum",
       [](auto& v, BenchSettings* s) { s->config.momentum = Real(v); }},
      {"eval_every",
       [](auto& v, BenchSettings* s) { s->config.eval_every = Int(v); }},
      {"seed", [](auto& v, BenchSettings* s) { s->config.seed = Int64(v); }},
      {"dataset",
       [](auto& v, BenchSettings* s) {
         s->config.data.dataset = v;
         if (v == "synthetic") s->config.data.pretrain_pool = 1000;
       }},
      {"data_path", [](auto& v, BenchSettings* s) { s->config.data.path = v; }},
      {"device", [](auto& v, BenchSettings* s) { s->options.device = v; }},
      {"threads",
       [](auto& v, BenchSettings* s) { s->options.threads = Int(v); }},
      {"repeats", [](auto& v, BenchSettings* s) { s->repeats = Int(v); }},
      {"jobs_at_once",
       [](auto& v, BenchSettings* s) { s->jobs_at_once = Int(v); }},
      // 0: MLPs through autograd, for a side-by-side with the hand-written
      // step (the default, 1).
      {"mlp_fast_path",
       [](auto& v, BenchSettings* s) {
         s->options.mlp_fast_path = Int(v) != 0;
       }},
  };
  return *flags;
}

bool ParseFlag(const char* arg, BenchSettings* settings) {
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

bool ParseBenchFlags(int argc, char** argv, BenchSettings* settings,
                     std::string* error) {
  for (int i = 1; i < argc; ++i) {
    if (!ParseFlag(argv[i], settings)) {
      std::string names;
      for (const Flag& flag : Flags()) names += std::string(" --") + flag.name;
      *error = std::string("unknown flag ") + argv[i] +
               "; flags (all --name=value):" + names;
      return false;
    }
  }
  return true;
}

std::string BenchResultJson(const BenchSettings& settings,
                            const ExperimentResult& result) {
  const ExperimentConfig& config = settings.config;
  auto metric = [&result](const char* name) {
    auto it = result.metrics.find(name);
    return it == result.metrics.end() ? 0.0 : it->second;
  };
  char line[1024];
  std::snprintf(
      line, sizeof(line),
      "{\"device\": \"%s\", \"family\": \"%s\", \"width\": %d, "
      "\"pretrain_examples\": %lld, \"parameter_count\": %lld, "
      "\"forgetting\": %.4f, \"acc\": %.4f, \"pretrain_seconds\": %.3f, "
      "\"finetune_seconds\": %.3f, \"total_seconds\": %.3f, "
      "\"samples_per_second\": %.1f, \"loss_forgetting\": %.4f, "
      "\"pretrain_forgetting\": %.4f, \"blas\": \"%s\"}\n",
      result.device.c_str(), config.family.c_str(), config.width,
      static_cast<long long>(config.pretrain_examples),
      static_cast<long long>(result.parameter_count), metric("forgetting"),
      metric("acc"), result.pretrain_seconds, result.finetune_seconds,
      result.total_seconds, result.samples_per_second,
      metric("loss_forgetting"), metric("pretrain_forgetting"),
      BlasLibrary().c_str());
  return line;
}

}  // namespace forgetlab::train
