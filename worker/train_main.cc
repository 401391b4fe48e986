// forgetlab-train: runs one ExperimentSpec with no server, through the same
// code path as the worker. For debugging specs and checking a GPU.
//   forgetlab-train --spec=experiment.textproto [--format=text|json]
#include <glog/logging.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/json.h"
#include "proto/spec.h"
#include "proto/spec_io.h"
#include "worker/job_runner.h"

ABSL_FLAG(std::string, spec, "",
          "ExperimentSpec file (.textproto or .json); fields left out take "
          "the default protocol");
ABSL_FLAG(std::string, format, "text", "text or json");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda or cuda:N");
ABSL_FLAG(int, threads, 0, "intra-op threads (0: LibTorch's default)");
ABSL_FLAG(int, repeats, 1,
          "run the job this many times in this process and report the "
          "fastest run (the first pays for thread pools and first-touch "
          "memory, as a worker's first job does); for benchmarks");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "keep pretrained bodies in this folder and reuse them (keyed by "
          "model, data, pretraining spec and seed)");

namespace forgetlab {
namespace {

std::string ResultJson(const v1::JobResult& r) {
  std::string out = "{\"accuracy_matrix\": [";
  for (int i = 0; i < r.accuracy_matrix_size(); ++i) {
    absl::StrAppend(&out, i ? ", [" : "[");
    const auto& row = r.accuracy_matrix(i).accuracy();
    for (int j = 0; j < row.size(); ++j) {
      absl::StrAppend(&out, j ? ", " : "", JsonNumber(row[j]));
    }
    absl::StrAppend(&out, "]");
  }
  absl::StrAppend(&out, "], \"metrics\": {");
  std::map<std::string, double> sorted(r.metrics().begin(), r.metrics().end());
  bool first = true;
  for (const auto& [name, value] : sorted) {
    absl::StrAppend(&out, first ? "" : ", ", JsonString(name), ": ",
                    JsonNumber(value));
    first = false;
  }
  absl::StrAppend(&out, "}, \"parameter_count\": ", r.parameter_count(),
                  ", \"curves\": [");
  for (int p = 0; p < r.curves_size(); ++p) {
    const v1::CurvePoint& c = r.curves(p);
    absl::StrAppend(&out, p ? ", " : "", "{\"stage\": ", c.stage(),
                    ", \"step\": ", c.step(), ", \"accuracy\": [");
    for (int j = 0; j < c.accuracy_size(); ++j) {
      absl::StrAppend(&out, j ? ", " : "", JsonNumber(c.accuracy(j)));
    }
    absl::StrAppend(&out, "]}");
  }
  absl::StrAppend(
      &out, "], \"device\": ", JsonString(r.device()),
      ", \"total_seconds\": ", JsonNumber(r.total_seconds()),
      ", \"samples_per_second\": ", JsonNumber(r.samples_per_second()), "}");
  return out;
}

std::string ResultText(const v1::ExperimentSpec& spec, const v1::JobResult& r) {
  std::string out = absl::StrFormat(
      "experiment: mlp depth %d width %d, pretrain %d examples, seed %d, %s\n"
      "parameters: %d\n"
      "accuracy matrix (row i: after training task i; column j: task j)\n",
      spec.model().depth(), spec.model().width(), spec.pretrain().examples(),
      spec.seed(), spec.data().dataset(), r.parameter_count());
  absl::StrAppend(&out, "        ");
  for (const auto& task : spec.tasks()) {
    absl::StrAppend(&out, absl::StrFormat("%8s", task.name()));
  }
  absl::StrAppend(&out, "\n");
  for (int i = 0; i < r.accuracy_matrix_size(); ++i) {
    absl::StrAppend(&out, absl::StrFormat("  %-6s", spec.tasks(i).name()));
    for (double a : r.accuracy_matrix(i).accuracy()) {
      absl::StrAppend(&out, absl::StrFormat("%8.4f", a));
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "metrics\n");
  std::map<std::string, double> sorted(r.metrics().begin(), r.metrics().end());
  for (const auto& [name, value] : sorted) {
    absl::StrAppend(&out, absl::StrFormat("  %-18s %8.4f\n", name, value));
  }
  absl::StrAppend(&out,
                  absl::StrFormat("time: %.2f s (pretrain %.2f s, fine-tune "
                                  "%.2f s), %.0f samples/s on %s\n",
                                  r.total_seconds(), r.pretrain_seconds(),
                                  r.finetune_seconds(), r.samples_per_second(),
                                  r.device()));
  return out;
}

int Main() {
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
  options.threads = absl::GetFlag(FLAGS_threads);
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
      return 1;
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

}  // namespace
}  // namespace forgetlab

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "runs one experiment without a server.\n"
      "  forgetlab-train --spec=experiment.textproto [--format=text|json] "
      "[--device=cpu] [--threads=N] [--repeats=N]");
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  return forgetlab::Main();
}
