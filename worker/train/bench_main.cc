// forgetlab-train-bench: trains one experiment from command-line overrides
// and prints one JSON line of timings. No server or protobuf, so the same
// binary runs in the standalone CUDA build of worker/train.
//   forgetlab-train-bench --width=512 --pretrain_examples=50000 --device=cpu
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "worker/train/experiment.h"

namespace {

bool ParseFlag(const char* arg, const char* name, std::string* value) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, "--", 2) != 0 || std::strncmp(arg + 2, name, n) != 0 ||
      arg[2 + n] != '=') {
    return false;
  }
  *value = arg + 3 + n;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  forgetlab::train::ExperimentConfig config;
  forgetlab::train::RunOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (ParseFlag(argv[i], "width", &v)) {
      config.width = std::atoi(v.c_str());
    } else if (ParseFlag(argv[i], "depth", &v)) {
      config.depth = std::atoi(v.c_str());
    } else if (ParseFlag(argv[i], "pretrain_examples", &v)) {
      config.pretrain_examples = std::atoll(v.c_str());
    } else if (ParseFlag(argv[i], "pretrain_steps", &v)) {
      config.pretrain_steps = std::atoi(v.c_str());
    } else if (ParseFlag(argv[i], "task_steps", &v)) {
      config.task_steps = std::atoi(v.c_str());
    } else if (ParseFlag(argv[i], "eval_every", &v)) {
      config.eval_every = std::atoi(v.c_str());
    } else if (ParseFlag(argv[i], "seed", &v)) {
      config.seed = std::atoll(v.c_str());
    } else if (ParseFlag(argv[i], "dataset", &v)) {
      config.data.dataset = v;
      if (v == "synthetic") config.data.pretrain_pool = 1000;
    } else if (ParseFlag(argv[i], "device", &v)) {
      options.device = v;
    } else if (ParseFlag(argv[i], "threads", &v)) {
      options.threads = std::atoi(v.c_str());
    } else {
      std::fprintf(
          stderr,
          "unknown flag %s; flags: --width --depth --pretrain_examples "
          "--pretrain_steps --task_steps --eval_every --seed "
          "--dataset=fashion_mnist|synthetic --device --threads\n",
          argv[i]);
      return 2;
    }
  }
  forgetlab::train::ExperimentResult result;
  const forgetlab::train::TrainStatus status =
      forgetlab::train::RunExperiment(config, options, &result);
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.message.c_str());
    return 1;
  }
  std::printf(
      "{\"device\": \"%s\", \"width\": %d, \"pretrain_examples\": %lld, "
      "\"parameter_count\": %lld, \"forgetting\": %.4f, \"acc\": %.4f, "
      "\"pretrain_seconds\": %.3f, \"finetune_seconds\": %.3f, "
      "\"total_seconds\": %.3f, \"samples_per_s\": %.0f, \"blas\": \"%s\"}\n",
      result.device.c_str(), config.width,
      static_cast<long long>(config.pretrain_examples),
      static_cast<long long>(result.parameter_count),
      result.metrics["forgetting"], result.metrics["acc"],
      result.pretrain_seconds, result.finetune_seconds, result.total_seconds,
      result.samples_per_second, forgetlab::train::BlasLibrary().c_str());
  return 0;
}
