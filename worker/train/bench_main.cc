// forgetlab-train-bench: trains one experiment from command-line overrides
// and prints one JSON line of timings. No server or protobuf, so the same
// binary runs in the standalone CUDA build of worker/train, where
// tests/bench/trainer_vs_pytorch.py drives it.
//   forgetlab-train-bench --width=512 --pretrain_examples=50000 --device=cpu
// --jobs_at_once=K trains K copies side by side in the last round and adds
// the aggregate throughput: the measure of a worker's --slots on one device.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "worker/train/bench_flags.h"
#include "worker/train/experiment.h"

int main(int argc, char** argv) {
  forgetlab::train::UseFastBlasKernels(argv);
  forgetlab::train::BenchSettings settings;
  std::string error;
  if (!forgetlab::train::ParseBenchFlags(argc, argv, &settings, &error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  forgetlab::train::ExperimentResult result;
  // Later repeats run warm: the dataset is loaded and, on a GPU, the CUDA
  // context, libraries and kernels are too.
  const int repeats = std::max(1, settings.repeats);
  const int at_once = std::max(1, settings.jobs_at_once);
  for (int i = 0; i < repeats - (at_once > 1 ? 1 : 0); ++i) {
    const forgetlab::train::TrainStatus status =
        forgetlab::train::RunExperiment(settings.config, settings.options,
                                        &result);
    if (!status.ok()) {
      std::fprintf(stderr, "error: %s\n", status.message.c_str());
      return 1;
    }
  }
  std::string line;
  if (at_once == 1) {
    line = forgetlab::train::BenchResultJson(settings, result);
  } else {
    // The last round: `at_once` jobs side by side, as a worker's slots.
    std::vector<forgetlab::train::ExperimentResult> results(at_once);
    std::vector<forgetlab::train::TrainStatus> statuses(at_once);
    std::vector<std::thread> threads;
    const auto start = std::chrono::steady_clock::now();
    for (int j = 0; j < at_once; ++j) {
      threads.emplace_back([&, j] {
        forgetlab::train::ExperimentConfig config = settings.config;
        config.seed += j;
        statuses[j] = forgetlab::train::RunExperiment(config, settings.options,
                                                      &results[j]);
      });
    }
    for (std::thread& t : threads) t.join();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    for (const auto& status : statuses) {
      if (!status.ok()) {
        std::fprintf(stderr, "error: %s\n", status.message.c_str());
        return 1;
      }
    }
    line = forgetlab::train::BenchResultJson(settings, results[0]);
    double samples = 0;
    for (const auto& r : results) {
      samples +=
          r.samples_per_second * (r.pretrain_seconds + r.finetune_seconds);
    }
    char extra[256];
    std::snprintf(extra, sizeof(extra),
                  ", \"jobs_at_once\": %d, \"wall_seconds\": %.3f, "
                  "\"jobs_per_second\": %.4f, "
                  "\"aggregate_samples_per_second\": %.1f}\n",
                  at_once, wall, at_once / wall, samples / wall);
    line = line.substr(0, line.rfind('}')) + extra;
  }
  std::fputs(line.c_str(), stdout);
  return 0;
}
