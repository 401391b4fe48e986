// forgetlab-train's text and JSON output.
#include "worker/result_format.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/net/json_writer.h"

namespace forgetlab {
namespace {

// The model's family and the knobs it uses.
std::string DescribeModel(const v1::ModelSpec& m) {
  switch (m.family()) {
    case v1::ModelSpec::RESNET:
      return absl::StrFormat("resnet width_multiplier %g blocks_per_stage %d",
                             m.width_multiplier(), m.blocks_per_stage());
    case v1::ModelSpec::VIT:
      return absl::StrFormat("vit dim %d depth %d heads %d patch %d", m.dim(),
                             m.vit_depth(), m.heads(), m.patch_size());
    case v1::ModelSpec::LM:
      return absl::StrFormat("lm dim %d lm_depth %d heads %d context %d",
                             m.dim(), m.lm_depth(), m.heads(), m.context());
    default:
      return absl::StrFormat("mlp depth %d width %d", m.depth(), m.width());
  }
}

// A k x k matrix with the task names on both sides.
void AppendMatrix(const v1::ExperimentSpec& spec,
                  const std::vector<std::vector<double>>& rows,
                  std::string* out) {
  absl::StrAppend(out, "        ");
  for (const auto& task : spec.tasks()) {
    absl::StrAppend(out, absl::StrFormat("%8s", task.name()));
  }
  absl::StrAppend(out, "\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    absl::StrAppend(
        out, absl::StrFormat("  %-6s", spec.tasks(static_cast<int>(i)).name()));
    for (double a : rows[i]) absl::StrAppend(out, absl::StrFormat("%8.4f", a));
    absl::StrAppend(out, "\n");
  }
}

std::string JsonList(const google::protobuf::RepeatedField<double>& values) {
  std::string out = "[";
  for (int j = 0; j < values.size(); ++j) {
    absl::StrAppend(&out, j ? ", " : "", JsonNumber(values[j]));
  }
  return out + "]";
}

}  // namespace

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
                    ", \"step\": ", c.step(),
                    ", \"accuracy\": ", JsonList(c.accuracy()));
    if (c.loss_size() > 0) {
      absl::StrAppend(&out, ", \"loss\": ", JsonList(c.loss()));
    }
    if (c.has_pool_loss()) {
      absl::StrAppend(&out, ", \"pool_loss\": ", JsonNumber(c.pool_loss()),
                      ", \"pool_accuracy\": ", JsonNumber(c.pool_accuracy()));
    }
    absl::StrAppend(&out, "}");
  }
  if (r.loss_matrix_size() > 0) {
    absl::StrAppend(&out, "], \"loss_matrix\": [");
    for (int i = 0; i < r.loss_matrix_size(); ++i) {
      absl::StrAppend(&out, i ? ", " : "", JsonList(r.loss_matrix(i).loss()));
    }
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
                  ", \"host\": ", JsonString(p.host()));
  if (p.data_sha256_size() > 0) {
    std::map<std::string, std::string> digests(p.data_sha256().begin(),
                                               p.data_sha256().end());
    absl::StrAppend(&out, ", \"data_sha256\": {");
    bool first_digest = true;
    for (const auto& [domain, digest] : digests) {
      absl::StrAppend(&out, first_digest ? "" : ", ", JsonString(domain), ": ",
                      JsonString(digest));
      first_digest = false;
    }
    absl::StrAppend(&out, "}");
  }
  absl::StrAppend(&out, "}}");
  return out;
}

std::string ResultText(const v1::ExperimentSpec& spec, const v1::JobResult& r) {
  std::string out = absl::StrFormat(
      "experiment: %s, pretrain %d examples, seed %d, %s\n"
      "parameters: %d\n",
      DescribeModel(spec.model()), spec.pretrain().examples(), spec.seed(),
      spec.data().dataset(), r.parameter_count());
  std::vector<std::vector<double>> rows;
  for (const auto& row : r.accuracy_matrix()) {
    rows.emplace_back(row.accuracy().begin(), row.accuracy().end());
  }
  absl::StrAppend(&out,
                  spec.model().family() == v1::ModelSpec::LM
                      ? "next-byte accuracy matrix"
                      : "accuracy matrix",
                  " (row i: after training task i; column j: task j)\n");
  AppendMatrix(spec, rows, &out);
  if (r.loss_matrix_size() > 0) {
    rows.clear();
    for (const auto& row : r.loss_matrix()) {
      rows.emplace_back(row.loss().begin(), row.loss().end());
    }
    absl::StrAppend(&out,
                    "loss matrix, bits per byte (row i: after training "
                    "task i; column j: task j)\n");
    AppendMatrix(spec, rows, &out);
  }
  absl::StrAppend(&out, "metrics\n");
  std::map<std::string, double> sorted(r.metrics().begin(), r.metrics().end());
  for (const auto& [name, value] : sorted) {
    absl::StrAppend(&out, absl::StrFormat("  %-24s %8.4f\n", name, value));
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
