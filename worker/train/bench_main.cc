// forgetlab-train-bench: trains one experiment from command-line overrides
// and prints one JSON line of timings. No server or protobuf, so the same
// binary runs in the standalone CUDA build of worker/train, where
// tests/bench/trainer_vs_pytorch.py drives it.
//   forgetlab-train-bench --width=512 --pretrain_examples=50000 --device=cpu
#include <algorithm>
#include <cstdio>
#include <string>

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
  for (int i = 0; i < std::max(1, settings.repeats); ++i) {
    const forgetlab::train::TrainStatus status =
        forgetlab::train::RunExperiment(settings.config, settings.options,
                                        &result);
    if (!status.ok()) {
      std::fprintf(stderr, "error: %s\n", status.message.c_str());
      return 1;
    }
  }
  std::fputs(forgetlab::train::BenchResultJson(settings, result).c_str(),
             stdout);
  return 0;
}
