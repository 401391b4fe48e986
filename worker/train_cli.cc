// forgetlab-train's flags and its one command.
#include "worker/train_cli.h"

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "proto/spec/defaults.h"
#include "proto/spec/spec_io.h"
#include "worker/job_runner.h"
#include "worker/result_format.h"

ABSL_FLAG(std::string, spec, "",
          "ExperimentSpec file (.textproto or .json); fields left out take "
          "the default protocol");
ABSL_FLAG(std::string, format, "text", "text or json");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda or cuda:N");
ABSL_FLAG(int, threads, 0,
          "intra-op threads (0: the CPUs available to this process, the "
          "fastest choice); results are bit-identical for the same spec, "
          "device and thread count");
ABSL_FLAG(int, repeats, 1,
          "run the job this many times in this process and report the "
          "fastest run (the first pays for thread pools and first-touch "
          "memory, as a worker's first job does); for benchmarks");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "keep pretrained bodies in this folder and reuse them (keyed by "
          "model, data, pretraining spec and seed)");

namespace forgetlab {

int RunTrainCommand() {
  const std::string path = absl::GetFlag(FLAGS_spec);
  const std::string format = absl::GetFlag(FLAGS_format);
  if (path.empty()) {
    std::fprintf(stderr, "forgetlab-train: --spec=FILE is required\n");
    return 2;
  }
  if (format != "text" && format != "json") {
    std::fprintf(stderr, "forgetlab-train: --format must be text or json\n");
    return 2;
  }
  v1::ExperimentSpec spec;
  absl::Status s = ParseSpecFile(path, &spec);
  if (!s.ok()) {
    std::fprintf(stderr, "forgetlab-train: %s\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  train::RunOptions options;
  options.device = absl::GetFlag(FLAGS_device);
  options.threads = absl::GetFlag(FLAGS_threads) > 0
                        ? absl::GetFlag(FLAGS_threads)
                        : train::AvailableCpus();
  options.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  const int repeats = absl::GetFlag(FLAGS_repeats);
  if (repeats < 1) {
    std::fprintf(stderr, "forgetlab-train: --repeats must be at least 1\n");
    return 2;
  }
  absl::StatusOr<v1::JobResult> result;
  for (int i = 0; i < repeats; ++i) {
    absl::StatusOr<v1::JobResult> run = RunJob(spec, options);
    if (!run.ok()) {
      std::fprintf(stderr, "forgetlab-train: %s: %s\n", path.c_str(),
                   std::string(run.status().message()).c_str());
      // A spec the validator or the trainer refuses is bad input.
      const absl::StatusCode code = run.status().code();
      return code == absl::StatusCode::kInvalidArgument ||
                     code == absl::StatusCode::kNotFound
                 ? 2
                 : 1;
    }
    if (i == 0 || run->samples_per_second() > result->samples_per_second()) {
      result = *std::move(run);
    }
  }
  const std::string text = format == "json"
                               ? ResultJson(*result) + "\n"
                               : ResultText(ResolveDefaults(spec), *result);
  std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace forgetlab
