// forgetlab-train's text and JSON output.
#include "worker/result_format.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/net/json_writer.h"

namespace forgetlab {

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
      ", \"samples_per_second\": ", JsonNumber(r.samples_per_second()));
  const v1::Provenance& p = r.provenance();
  absl::StrAppend(&out, ", \"provenance\": {\"forgetlab_version\": ",
                  JsonString(p.forgetlab_version()),
                  ", \"forgetlab_commit\": ", JsonString(p.forgetlab_commit()),
                  ", \"torch_version\": ", JsonString(p.torch_version()),
                  ", \"blas\": ", JsonString(p.blas()),
                  ", \"device\": ", JsonString(p.device()),
                  ", \"threads\": ", p.threads(),
                  ", \"host\": ", JsonString(p.host()), "}}");
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
  const v1::Provenance& p = r.provenance();
  absl::StrAppend(
      &out, absl::StrFormat("provenance: forgetlab %s%s, LibTorch %s, %d "
                            "threads, BLAS %s\n",
                            p.forgetlab_version(),
                            p.forgetlab_commit().empty()
                                ? ""
                                : absl::StrCat(" (", p.forgetlab_commit(), ")"),
                            p.torch_version(), p.threads(), p.blas()));
  return out;
}

}  // namespace forgetlab
