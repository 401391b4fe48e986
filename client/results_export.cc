// CSV and JSON Lines exports of a sweep's results.
#include "client/results_export.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/net/json_writer.h"
#include "proto/spec/field_path.h"

namespace forgetlab {
namespace {

// The LM track's text digests as "domain=sha256;..." in domain order; "" for
// image jobs.
std::string DataDigests(const v1::Provenance& p) {
  std::vector<std::string> parts;
  for (const auto& [domain, digest] : std::map<std::string, std::string>(
           p.data_sha256().begin(), p.data_sha256().end())) {
    parts.push_back(absl::StrCat(domain, "=", digest));
  }
  return absl::StrJoin(parts, ";");
}

// Provenance columns, without their "provenance." prefix, and their values.
std::vector<std::pair<std::string, std::string>> ProvenanceFields(
    const v1::Provenance& p) {
  return {{"forgetlab_version", p.forgetlab_version()},
          {"forgetlab_commit", p.forgetlab_commit()},
          {"torch_version", p.torch_version()},
          {"blas", p.blas()},
          {"device", p.device()},
          {"threads", p.threads() > 0 ? absl::StrCat(p.threads()) : ""},
          {"host", p.host()},
          {"data_sha256", DataDigests(p)},
          {"pretrain_artifact_sha256", p.pretrain_artifact_sha256()},
          {"pretrain_device", p.pretrain_device()},
          {"pretrain_threads",
           p.pretrain_threads() > 0 ? absl::StrCat(p.pretrain_threads()) : ""}};
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// A flattened spec value as JSON: a number when it reads as one.
std::string JsonValue(const std::string& text) {
  double v = 0;
  if (absl::SimpleAtod(text, &v) && text.find(' ') == std::string::npos) {
    return JsonNumber(v);
  }
  return JsonString(text);
}

// The columns every row has, in the documented order.
struct CsvColumns {
  std::vector<std::string> axes;     // without seed
  std::vector<std::string> metrics;  // sorted
  std::vector<std::string> spec;     // union in first-seen order, no axes
};

CsvColumns CollectColumns(const std::vector<JobWithResult>& rows) {
  CsvColumns c;
  std::set<std::string> axes, metrics, spec_seen;
  for (const JobWithResult& r : rows) {
    for (const auto& [path, unused] : r.job.axis_values()) {
      if (path != "seed") axes.insert(path);
    }
    for (const auto& [name, unused] : r.result.metrics()) metrics.insert(name);
  }
  c.axes.assign(axes.begin(), axes.end());
  c.metrics.assign(metrics.begin(), metrics.end());
  for (const JobWithResult& r : rows) {
    for (const auto& [path, unused] : FlattenFields(r.job.spec())) {
      if (path == "seed" || axes.count(path)) continue;
      if (spec_seen.insert(path).second) c.spec.push_back(path);
    }
  }
  return c;
}

}  // namespace

std::string ResultsCsv(const std::vector<JobWithResult>& rows, bool curves) {
  const CsvColumns c = CollectColumns(rows);
  std::vector<std::string> header = {"job_id", "sweep_id", "seed"};
  header.insert(header.end(), c.axes.begin(), c.axes.end());
  header.insert(header.end(), c.metrics.begin(), c.metrics.end());
  for (const char* name : {"parameter_count", "total_seconds", "cached"}) {
    header.push_back(name);
  }
  header.insert(header.end(), c.spec.begin(), c.spec.end());
  for (const auto& [name, unused] : ProvenanceFields(v1::Provenance())) {
    header.push_back("provenance." + name);
  }
  if (curves) {
    for (const char* name :
         {"curve_stage", "curve_step", "curve_task", "curve_accuracy"}) {
      header.push_back(name);
    }
  }
  std::string out;
  for (size_t i = 0; i < header.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", CsvField(header[i]));
  }
  out += "\n";
  for (const JobWithResult& r : rows) {
    const v1::Job& job = r.job;
    std::vector<std::string> fields = {absl::StrCat(job.job_id()),
                                       job.sweep_id(),
                                       absl::StrCat(job.spec().seed())};
    for (const std::string& axis : c.axes) {
      auto it = job.axis_values().find(axis);
      fields.push_back(it == job.axis_values().end() ? ""
                                                     : FieldText(it->second));
    }
    for (const std::string& metric : c.metrics) {
      auto it = r.result.metrics().find(metric);
      fields.push_back(it == r.result.metrics().end() ? ""
                                                      : JsonNumber(it->second));
    }
    fields.push_back(absl::StrCat(r.result.parameter_count()));
    fields.push_back(JsonNumber(r.result.total_seconds()));
    fields.push_back(job.cached() ? "true" : "false");
    std::map<std::string, std::string> spec;
    for (auto& [path, text] : FlattenFields(job.spec())) spec[path] = text;
    for (const std::string& path : c.spec) fields.push_back(spec[path]);
    for (const auto& [unused, value] :
         ProvenanceFields(r.result.provenance())) {
      fields.push_back(value);
    }
    std::string line;
    for (size_t i = 0; i < fields.size(); ++i) {
      absl::StrAppend(&line, i ? "," : "", CsvField(fields[i]));
    }
    if (!curves) {
      absl::StrAppend(&out, line, "\n");
      continue;
    }
    for (const v1::CurvePoint& p : r.result.curves()) {
      for (int task = 0; task < p.accuracy_size(); ++task) {
        absl::StrAppend(&out, line, ",", p.stage(), ",", p.step(), ",", task,
                        ",", JsonNumber(p.accuracy(task)), "\n");
      }
    }
  }
  return out;
}

std::string ResultsJsonl(const std::vector<JobWithResult>& rows, bool curves) {
  std::string out;
  for (const JobWithResult& r : rows) {
    const v1::Job& job = r.job;
    std::vector<std::string> axes, metrics, matrix, losses, spec, provenance;
    for (const auto& [path, value] : std::map<std::string, double>(
             job.axis_values().begin(), job.axis_values().end())) {
      if (path != "seed") {
        axes.push_back(absl::StrCat(JsonString(path), ": ", JsonNumber(value)));
      }
    }
    for (const auto& [name, value] : std::map<std::string, double>(
             r.result.metrics().begin(), r.result.metrics().end())) {
      metrics.push_back(
          absl::StrCat(JsonString(name), ": ", JsonNumber(value)));
    }
    for (const v1::AccuracyRow& row : r.result.accuracy_matrix()) {
      std::vector<std::string> a;
      for (double x : row.accuracy()) a.push_back(JsonNumber(x));
      matrix.push_back(absl::StrCat("[", absl::StrJoin(a, ", "), "]"));
    }
    for (const v1::LossRow& row : r.result.loss_matrix()) {
      std::vector<std::string> l;
      for (double x : row.loss()) l.push_back(JsonNumber(x));
      losses.push_back(absl::StrCat("[", absl::StrJoin(l, ", "), "]"));
    }
    for (const auto& [path, text] : FlattenFields(job.spec())) {
      spec.push_back(absl::StrCat(JsonString(path), ": ", JsonValue(text)));
    }
    for (const auto& [name, value] : ProvenanceFields(r.result.provenance())) {
      provenance.push_back(
          absl::StrCat(JsonString(name), ": ",
                       name == "threads" || name == "pretrain_threads"
                           ? (value.empty() ? "null" : value)
                           : JsonString(value)));
    }
    absl::StrAppend(
        &out, "{\"job_id\": ", job.job_id(),
        ", \"sweep_id\": ", JsonString(job.sweep_id()),
        ", \"seed\": ", job.spec().seed(), ", \"axes\": {",
        absl::StrJoin(axes, ", "), "}, \"metrics\": {",
        absl::StrJoin(metrics, ", "),
        "}, \"parameter_count\": ", r.result.parameter_count(),
        ", \"total_seconds\": ", JsonNumber(r.result.total_seconds()),
        ", \"cached\": ", job.cached() ? "true" : "false",
        ", \"accuracy_matrix\": [", absl::StrJoin(matrix, ", "), "]",
        losses.empty() ? ""
                       : absl::StrCat(", \"loss_matrix\": [",
                                      absl::StrJoin(losses, ", "), "]"),
        ", \"spec\": {", absl::StrJoin(spec, ", "), "}, \"provenance\": {",
        absl::StrJoin(provenance, ", "), "}");
    if (curves) {
      std::vector<std::string> points;
      for (const v1::CurvePoint& p : r.result.curves()) {
        std::vector<std::string> a;
        for (double x : p.accuracy()) a.push_back(JsonNumber(x));
        points.push_back(
            absl::StrCat("{\"stage\": ", p.stage(), ", \"step\": ", p.step(),
                         ", \"accuracy\": [", absl::StrJoin(a, ", "), "]}"));
      }
      absl::StrAppend(&out, ", \"curves\": [", absl::StrJoin(points, ", "),
                      "]");
    }
    absl::StrAppend(&out, "}\n");
  }
  return out;
}

}  // namespace forgetlab
