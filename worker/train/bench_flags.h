// forgetlab-train-bench's command line: --name=value flags that override an
// ExperimentConfig and RunOptions. No flag library, so the standalone CUDA
// build of worker/train needs nothing beyond LibTorch.
#ifndef FORGETLAB_WORKER_TRAIN_BENCH_FLAGS_H_
#define FORGETLAB_WORKER_TRAIN_BENCH_FLAGS_H_

#include <string>

#include "worker/train/experiment.h"

namespace forgetlab::train {

// What the flags set; unset fields keep the default protocol.
struct BenchSettings {
  ExperimentConfig config;
  RunOptions options;
  int repeats = 1;  // runs in this process; the last one is reported
  // The last repeat trains this many copies at once (seeds seed, seed+1,
  // ...), each on its own thread (and CUDA stream), as a worker's slots do.
  int jobs_at_once = 1;
};

// Applies argv[1..argc) to *settings. On an unknown or malformed flag,
// returns false with *error naming it and listing the flags.
bool ParseBenchFlags(int argc, char** argv, BenchSettings* settings,
                     std::string* error);

// The JSON line forgetlab-train-bench prints for a run.
std::string BenchResultJson(const BenchSettings& settings,
                            const ExperimentResult& result);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_BENCH_FLAGS_H_
