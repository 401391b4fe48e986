// Report rendering.
#include "client/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/svg.h"
#include "google/protobuf/text_format.h"
#include "proto/spec/defaults.h"
#include "proto/spec/field_path.h"

namespace forgetlab {
namespace {

using svg::Escape;
using svg::ShortNumber;

bool IsModelAxis(const std::string& axis) {
  return absl::StartsWith(axis, "model.");
}

std::string AxisLabel(const std::string& axis, double value) {
  if (axis == "pretrain.examples")
    return absl::StrCat("N = ", ShortNumber(value));
  return absl::StrCat(axis, " = ", ShortNumber(value));
}

std::string MetricLabel(const std::string& metric) {
  if (metric == "forgetting") {
    return "forgetting (task-A accuracy lost, fraction)";
  }
  if (metric == "acc") return "final mean accuracy (fraction)";
  return absl::StrCat(metric, " (fraction)");
}

// The value of `axis` for a result: its grid coordinate, or the sweep's
// base value when the sweep does not vary that field.
double AxisValue(const v1::JobResultEntry& entry, const std::string& axis,
                 const v1::ExperimentSpec& base) {
  auto it = entry.axis_values().find(axis);
  if (it != entry.axis_values().end()) return it->second;
  absl::StatusOr<double> v = GetNumericField(base, axis);
  return v.ok() ? *v : 0;
}

std::string Section(const std::string& title, const std::string& intro,
                    const std::string& body) {
  return absl::StrCat("<section><h2>", Escape(title), "</h2><p>", Escape(intro),
                      "</p>\n", body, "</section>\n");
}

}  // namespace

std::string PaperFigureSvg(const v1::Table& table, bool standalone) {
  const bool model_rows = IsModelAxis(table.row_axis());
  std::map<double, int64_t> params;
  for (const v1::TableRow& row : table.rows()) {
    params[row.value()] = row.parameter_count();
  }
  bool positive = true;
  double lo = INFINITY, hi = -INFINITY;
  for (const v1::TableRow& row : table.rows()) {
    const double x = model_rows ? row.parameter_count() : row.value();
    positive = positive && x > 0;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  std::vector<svg::Series> series;
  for (double col : table.cols()) {
    svg::Series s;
    s.label = AxisLabel(table.col_axis(), col);
    std::vector<const v1::TableCell*> cells;
    for (const v1::TableCell& c : table.cells()) {
      if (c.col() == col) cells.push_back(&c);
    }
    std::sort(cells.begin(), cells.end(),
              [](const v1::TableCell* a, const v1::TableCell* b) {
                return a->row() < b->row();
              });
    for (const v1::TableCell* c : cells) {
      s.x.push_back(model_rows ? static_cast<double>(params[c->row()])
                               : c->row());
      s.y.push_back(c->mean());
      s.y_low.push_back(c->ci95_low());
      s.y_high.push_back(c->ci95_high());
    }
    series.push_back(std::move(s));
  }
  svg::LineChartOptions o;
  o.title = absl::StrCat(table.metric(), " vs ",
                         model_rows ? "model size" : table.row_axis(),
                         " (mean ± 95% CI over seeds)");
  // Model size is always shown on a log axis, as in the papers.
  o.log_x = positive && (model_rows || hi / lo >= 10);
  o.x_label =
      model_rows
          ? absl::StrCat("parameters (count", o.log_x ? ", log scale" : "",
                         "); rows: ", table.row_axis())
          : absl::StrCat(table.row_axis(), o.log_x ? " (log scale)" : "");
  o.y_label = MetricLabel(table.metric());
  o.standalone = standalone;
  o.width = 720;
  o.height = 440;
  return svg::LineChart(series, o);
}

std::string ReportHtml(const ReportInput& in) {
  const v1::Table& table = in.table;
  const v1::ExperimentSpec base = ResolveDefaults(in.sweep.spec().base());
  std::vector<double> rows, cols;
  std::map<double, int64_t> params;
  for (const v1::TableRow& r : table.rows()) {
    rows.push_back(r.value());
    params[r.value()] = r.parameter_count();
  }
  cols.assign(table.cols().begin(), table.cols().end());
  auto row_label = [&](double r) {
    return IsModelAxis(table.row_axis())
               ? absl::StrCat(ShortNumber(r), " (", ShortNumber(params[r]),
                              " params)")
               : ShortNumber(r);
  };

  // 1. Heatmap.
  svg::HeatmapData heat;
  heat.title = absl::StrCat(table.metric(), ": mean over seeds");
  heat.row_title = table.row_axis();
  heat.col_title = table.col_axis();
  heat.value_label = MetricLabel(table.metric());
  for (double c : cols) heat.col_labels.push_back(ShortNumber(c));
  for (double r : rows) {
    heat.row_labels.push_back(row_label(r));
    std::vector<std::optional<double>> line;
    for (double c : cols) {
      std::optional<double> v;
      for (const v1::TableCell& cell : table.cells()) {
        if (cell.row() == r && cell.col() == c) v = cell.mean();
      }
      line.push_back(v);
    }
    heat.values.push_back(line);
  }

  // Results grouped by (row, col) for the frontier and the matrices.
  std::map<std::pair<double, double>, std::vector<const v1::JobResult*>> groups;
  for (const v1::JobResultEntry& e : in.results) {
    groups[{AxisValue(e, table.row_axis(), base),
            AxisValue(e, table.col_axis(), base)}]
        .push_back(&e.result());
  }

  // 3. Frontier: task-1 accuracy while task 2 trains, mean over seeds.
  std::string frontiers;
  for (double c : cols) {
    std::vector<svg::Series> series;
    for (double r : rows) {
      auto it = groups.find({r, c});
      if (it == groups.end()) continue;
      std::map<int, std::pair<double, int>> by_step;  // step -> (sum, n)
      for (const v1::JobResult* result : it->second) {
        if (result->accuracy_matrix_size() < 2) continue;
        auto& start = by_step[0];  // the end of task 1
        start.first += result->accuracy_matrix(0).accuracy(0);
        start.second += 1;
        for (const v1::CurvePoint& p : result->curves()) {
          if (p.stage() != 1 || p.accuracy_size() < 1) continue;
          by_step[p.step()].first += p.accuracy(0);
          by_step[p.step()].second += 1;
        }
      }
      svg::Series s;
      s.label = absl::StrCat(table.row_axis(), " = ", ShortNumber(r));
      for (const auto& [step, sum] : by_step) {
        s.x.push_back(step);
        s.y.push_back(sum.first / sum.second);
      }
      series.push_back(std::move(s));
    }
    svg::LineChartOptions o;
    o.title = absl::StrCat("task-A accuracy while task B trains, ",
                           AxisLabel(table.col_axis(), c));
    o.x_label = "step of task B (0 = end of task A)";
    o.y_label = "task-A test accuracy (fraction)";
    o.width = 560;
    o.height = 340;
    absl::StrAppend(&frontiers, svg::LineChart(series, o));
  }

  // 4. Mean accuracy matrices.
  std::string matrices = "<div class=\"matrices\">\n";
  for (double r : rows) {
    for (double c : cols) {
      auto it = groups.find({r, c});
      if (it == groups.end() || it->second.empty()) continue;
      const int k = it->second.front()->accuracy_matrix_size();
      std::vector<std::vector<double>> mean(k, std::vector<double>(k, 0));
      for (const v1::JobResult* result : it->second) {
        for (int i = 0; i < k && i < result->accuracy_matrix_size(); ++i) {
          for (int j = 0;
               j < k && j < result->accuracy_matrix(i).accuracy_size(); ++j) {
            mean[i][j] +=
                result->accuracy_matrix(i).accuracy(j) / it->second.size();
          }
        }
      }
      absl::StrAppend(
          &matrices, "<table class=\"matrix\"><caption>", Escape(row_label(r)),
          ", ", Escape(AxisLabel(table.col_axis(), c)),
          " (n = ", it->second.size(), ")</caption><tr><th>after \\ on</th>");
      for (int j = 0; j < k; ++j) {
        absl::StrAppend(
            &matrices, "<th>",
            Escape(j < base.tasks_size() ? base.tasks(j).name()
                                         : absl::StrCat("T", j + 1)),
            "</th>");
      }
      absl::StrAppend(&matrices, "</tr>");
      for (int i = 0; i < k; ++i) {
        absl::StrAppend(
            &matrices, "<tr><th>",
            Escape(i < base.tasks_size() ? base.tasks(i).name()
                                         : absl::StrCat("T", i + 1)),
            "</th>");
        for (int j = 0; j < k; ++j) {
          absl::StrAppend(&matrices,
                          absl::StrFormat("<td>%.3f</td>", mean[i][j]));
        }
        absl::StrAppend(&matrices, "</tr>");
      }
      absl::StrAppend(&matrices, "</table>\n");
    }
  }
  absl::StrAppend(&matrices, "</div>\n");

  std::string spec_text;
  google::protobuf::TextFormat::PrintToString(in.sweep.spec(), &spec_text);
  const v1::SweepStatus& s = in.sweep;
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>forgetlab report: ",
      Escape(s.name()),
      "</title>\n<style>\n"
      "body{font-family:sans-serif;max-width:1200px;margin:24px "
      "auto;color:#222}"
      "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc}"
      "svg{margin:8px 8px 8px 0}pre{background:#f6f6f6;padding:12px}"
      ".matrices{display:flex;flex-wrap:wrap;gap:12px}"
      "table.matrix{border-collapse:collapse;font-size:12px}"
      "table.matrix td,table.matrix th{border:1px solid #ccc;padding:3px 6px}"
      "caption{font-size:12px;text-align:left}\n</style></head><body>\n"
      "<h1>forgetlab report: ",
      Escape(s.name()), "</h1>\n<p>Sweep <code>", Escape(s.sweep_id()),
      "</code>: ", s.total(), " jobs, ", s.succeeded(), " succeeded (",
      s.cached(), " from the cache), ", s.failed(), " failed, ", s.cancelled(),
      " cancelled; state ", Escape(s.state()), ". Metric <b>",
      Escape(table.metric()), "</b> over rows <code>", Escape(table.row_axis()),
      "</code> and columns <code>", Escape(table.col_axis()),
      "</code>. Accuracies and metrics are fractions.</p>\n",
      Section("Heatmap", "Mean over seeds of each grid cell.",
              svg::Heatmap(heat)),
      Section("Forgetting against model size",
              "Each line is one column value; error bars are 95% Student-t "
              "confidence intervals over seeds.",
              PaperFigureSvg(table, false)),
      Section("Forgetting frontier",
              "Task-A test accuracy while task B trains, averaged over seeds; "
              "one panel per column value, one line per row value.",
              frontiers),
      Section(
          "Accuracy matrices",
          "R[i][j]: accuracy on task j after training task i, mean over seeds.",
          matrices),
      Section("Sweep specification", "As submitted (text-format SweepSpec).",
              absl::StrCat("<pre>", Escape(spec_text), "</pre>")),
      "</body></html>\n");
}

}  // namespace forgetlab
