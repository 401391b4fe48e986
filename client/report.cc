// Report rendering.
#include "client/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/report_trends.h"
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
  return absl::StrCat(axis, " = ", ShortNumber(value));
}

// "forgetting" -> "Forgetting", for section titles.
std::string Capitalized(std::string text) {
  if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] -= 'a' - 'A';
  return text;
}

// The unit a metric is in: most are fractions; the LM track's losses are
// bits per byte and the FG metrics percent.
std::string MetricUnit(const std::string& metric) {
  if (metric == "loss_forgetting" || metric == "pretrain_forgetting" ||
      metric == "pretrain_loss") {
    return "bits per byte";
  }
  if (metric == "fg_relative" || metric == "fg_general") return "percent";
  if (metric == "parameter_count") return "count";
  return "fraction";
}

std::string MetricLabel(const std::string& metric) {
  if (metric == "forgetting") {
    return "forgetting (task-A accuracy lost, fraction)";
  }
  if (metric == "acc") return "final mean accuracy (fraction)";
  return absl::StrCat(metric, " (", MetricUnit(metric), ")");
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

// A two-column table of the resolved base spec; axis fields list their
// values instead.
std::string HyperparameterTable(const v1::SweepSpec& sweep) {
  std::map<std::string, std::string> axes;
  for (const v1::Axis& axis : sweep.axes()) {
    std::vector<std::string> values;
    for (double v : axis.values()) values.push_back(FieldText(v));
    axes[axis.path()] = absl::StrCat("axis: ", absl::StrJoin(values, ", "));
  }
  if (!sweep.seeds().empty()) {
    axes["seed"] = absl::StrCat("seeds: ", absl::StrJoin(sweep.seeds(), ", "));
  }
  std::string out = "<table class=\"kv\">";
  std::set<std::string> shown;
  for (const auto& [path, text] :
       FlattenFields(ResolveDefaults(sweep.base()))) {
    auto it = axes.find(path);
    shown.insert(path);
    absl::StrAppend(&out, "<tr><th>", Escape(path), "</th><td>",
                    Escape(it == axes.end() ? text : it->second), "</td></tr>");
  }
  for (const auto& [path, text] : axes) {
    if (shown.count(path) == 0) {
      absl::StrAppend(&out, "<tr><th>", Escape(path), "</th><td>", Escape(text),
                      "</td></tr>");
    }
  }
  return out + "</table>\n";
}

// Each provenance field with its distinct values and how many results had
// each.
std::string ProvenanceTable(const std::vector<v1::JobResultEntry>& results) {
  std::vector<std::pair<std::string, std::map<std::string, int>>> fields = {
      {"forgetlab", {}}, {"LibTorch", {}}, {"BLAS", {}},
      {"device", {}},    {"threads", {}},  {"host", {}}};
  for (const v1::JobResultEntry& e : results) {
    const v1::Provenance& p = e.result().provenance();
    if (!e.result().has_provenance()) {
      for (auto& [name, counts] : fields) ++counts["not recorded"];
      continue;
    }
    ++fields[0].second[absl::StrCat(
        p.forgetlab_version(),
        p.forgetlab_commit().empty()
            ? ""
            : absl::StrCat(" (commit ", p.forgetlab_commit(), ")"))];
    ++fields[1].second[p.torch_version()];
    ++fields[2].second[p.blas()];
    ++fields[3].second[p.device()];
    ++fields[4].second[absl::StrCat(p.threads())];
    ++fields[5].second[p.host()];
  }
  std::string out = "<table class=\"kv\">";
  for (const auto& [name, counts] : fields) {
    std::vector<std::string> values;
    for (const auto& [value, n] : counts) {
      values.push_back(absl::StrCat(Escape(value), " <small>(", n,
                                    n == 1 ? " result" : " results",
                                    ")</small>"));
    }
    absl::StrAppend(
        &out, "<tr><th>", name, "</th><td>",
        values.empty() ? "no results yet" : absl::StrJoin(values, "<br>"),
        "</td></tr>");
  }
  return out + "</table>\n";
}

using ResultGroups =
    std::map<std::pair<double, double>, std::vector<const v1::JobResult*>>;

// Which value a frontier follows: task A's accuracy or its loss.
struct FrontierValue {
  const char* name;     // "accuracy" or "loss"
  const char* y_label;  // the axis title
  bool fraction;        // clamp the y range to [0, 1]
};

// One line chart per column value: task A's value at the end of task A
// (step 0) and at each curve point while task B trains, mean over seeds, one
// line per row value; all panels on one y range.
std::string FrontierPanels(const ResultGroups& groups,
                           const std::vector<double>& rows,
                           const std::vector<double>& cols,
                           const std::string& col_axis,
                           const std::string& row_axis,
                           const FrontierValue& value) {
  const bool loss = std::string(value.name) == "loss";
  std::vector<std::pair<double, std::vector<svg::Series>>> panels;
  double low = INFINITY, high = -INFINITY;
  for (double c : cols) {
    std::vector<svg::Series> series;
    for (double r : rows) {
      auto it = groups.find({r, c});
      if (it == groups.end()) continue;
      std::map<int, std::pair<double, int>> by_step;  // step -> (sum, n)
      for (const v1::JobResult* result : it->second) {
        if (loss ? result->loss_matrix_size() < 2
                 : result->accuracy_matrix_size() < 2) {
          continue;
        }
        auto& start = by_step[0];  // the end of task A
        start.first += loss ? result->loss_matrix(0).loss(0)
                            : result->accuracy_matrix(0).accuracy(0);
        start.second += 1;
        for (const v1::CurvePoint& p : result->curves()) {
          const int size = loss ? p.loss_size() : p.accuracy_size();
          if (p.stage() != 1 || size < 1) continue;
          by_step[p.step()].first += loss ? p.loss(0) : p.accuracy(0);
          by_step[p.step()].second += 1;
        }
      }
      svg::Series s;
      s.label = ShortNumber(r);
      for (const auto& [step, sum] : by_step) {
        s.x.push_back(step);
        s.y.push_back(sum.first / sum.second);
        low = std::min(low, s.y.back());
        high = std::max(high, s.y.back());
      }
      series.push_back(std::move(s));
    }
    panels.emplace_back(c, std::move(series));
  }
  std::string out;
  for (const auto& [c, series] : panels) {
    svg::LineChartOptions o;
    o.title = absl::StrCat("task-A ", value.name, " while task B trains, ",
                           AxisLabel(col_axis, c));
    o.x_label = "step of task B (0 = end of task A)";
    o.y_label = value.y_label;
    o.legend_title = row_axis;
    if (std::isfinite(low)) {
      const double pad =
          std::max(value.fraction ? 0.02 : 0.05, (high - low) * 0.08);
      o.y_range = {std::max(0.0, low - pad),
                   value.fraction ? std::min(1.0, high + pad) : high + pad};
    }
    o.width = 560;
    o.height = 340;
    absl::StrAppend(&out, svg::LineChart(series, o));
  }
  return out;
}

}  // namespace

std::string PaperFigureSvg(const v1::Table& table, bool standalone,
                           Aggregation agg, const FitReport* fits) {
  const bool median = agg == Aggregation::kMedian;
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
    s.label = ShortNumber(col);
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
      s.y.push_back(median ? c->median() : c->mean());
      if (!median) {
        s.y_low.push_back(c->ci95_low());
        s.y_high.push_back(c->ci95_high());
      }
      s.n.push_back(c->n());
      s.values.emplace_back(c->values().begin(), c->values().end());
    }
    if (fits != nullptr && !s.x.empty()) {
      FittedCurve(*fits, col, s.x.front(), s.x.back(),
                  positive && (model_rows || hi / lo >= 10), &s.fit_x,
                  &s.fit_y);
    }
    series.push_back(std::move(s));
  }
  svg::LineChartOptions o;
  o.title = absl::StrCat(
      table.metric(), " vs ", model_rows ? "model size" : table.row_axis(),
      median ? " (median over seeds)" : " (mean ± 95% CI over seeds)");
  o.legend_title = table.col_axis();
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
  const bool median = in.agg == Aggregation::kMedian;
  const char* over_seeds = median ? "median over seeds" : "mean over seeds";
  const v1::ExperimentSpec base = ResolveDefaults(in.sweep.spec().base());
  std::vector<double> rows, cols;
  std::map<double, int64_t> params;
  for (const v1::TableRow& r : table.rows()) {
    rows.push_back(r.value());
    params[r.value()] = r.parameter_count();
  }
  cols.assign(table.cols().begin(), table.cols().end());
  std::map<double, bool> one_size;
  for (const v1::TableRow& r : table.rows()) {
    one_size[r.value()] = r.parameter_count_min() == r.parameter_count_max();
  }
  auto row_label = [&](double r) {
    return IsModelAxis(table.row_axis()) && one_size[r]
               ? absl::StrCat(ShortNumber(r), " (", ShortNumber(params[r]),
                              " params)")
               : ShortNumber(r);
  };

  const ReportTrends trends = BuildReportTrends(table, in.results);

  // 1. Heatmap.
  svg::HeatmapData heat;
  heat.title = absl::StrCat(table.metric(), ": ", over_seeds);
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
        if (cell.row() == r && cell.col() == c) {
          v = median ? cell.median() : cell.mean();
        }
      }
      line.push_back(v);
    }
    heat.values.push_back(line);
  }

  // Results grouped by (row, col) for the frontier and the matrices.
  ResultGroups groups;
  for (const v1::JobResultEntry& e : in.results) {
    groups[{AxisValue(e, table.row_axis(), base),
            AxisValue(e, table.col_axis(), base)}]
        .push_back(&e.result());
  }

  // 3. Frontiers: task A's accuracy (and, for LM results, its loss in bits
  // per byte) while task B trains, mean over seeds. The panels of one
  // frontier share one y range so they can be compared by eye.
  const std::string frontiers =
      FrontierPanels(groups, rows, cols, table.col_axis(), table.row_axis(),
                     {"accuracy", "task-A test accuracy (fraction)", true});
  std::string loss_frontiers;
  for (const v1::JobResultEntry& e : in.results) {
    if (e.result().loss_matrix_size() > 0) {
      loss_frontiers = FrontierPanels(
          groups, rows, cols, table.col_axis(), table.row_axis(),
          {"loss", "task-A held-out loss (bits per byte)", false});
      break;
    }
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

  // The sweep as submitted, less the client's internal request id.
  v1::SweepSpec submitted = in.sweep.spec();
  submitted.clear_request_id();
  std::string spec_text;
  google::protobuf::TextFormat::PrintToString(submitted, &spec_text);
  const v1::SweepStatus& s = in.sweep;
  const std::string metric = Capitalized(table.metric());
  std::string notes;
  for (const v1::PooledAxis& p : table.pooled_over()) {
    absl::StrAppend(
        &notes, "<p class=\"warning\">Pooled over <code>", Escape(p.path()),
        "</code> (", p.values_size(),
        " values: ", Escape(absl::StrJoin(p.values(), ", ")),
        "): neither the rows, the columns nor a filter fix it.</p>\n");
  }
  if (table.duplicates_dropped() > 0) {
    absl::StrAppend(&notes, "<p class=\"warning\">", table.duplicates_dropped(),
                    " duplicate results dropped: the same experiment in more "
                    "than one sweep counts once.</p>\n");
  }
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
      "caption{font-size:12px;text-align:left}"
      "table.kv{border-collapse:collapse;font-size:13px}"
      "table.kv th{text-align:left;padding:2px 12px 2px 0;font-weight:normal;"
      "color:#555}table.kv td{padding:2px 0}"
      ".warning{background:#fff4e0;border-left:4px solid #e69f00;"
      "padding:6px 10px}\n</style></head><body>\n"
      "<h1>forgetlab report: ",
      Escape(s.name()), "</h1>\n<p>Sweep <code>", Escape(s.sweep_id()),
      "</code>: ", s.total(), " jobs, ", s.succeeded(), " succeeded (",
      s.cached(), " from the cache), ", s.failed(), " failed, ", s.cancelled(),
      " cancelled; state ", Escape(s.state()), ". Metric <b>",
      Escape(table.metric()), "</b> over rows <code>", Escape(table.row_axis()),
      "</code> and columns <code>", Escape(table.col_axis()), "</code>, in ",
      MetricUnit(table.metric()),
      ". Accuracies are fractions; LM losses are bits per byte.</p>\n", notes,
      Section(absl::StrCat(metric, ": heatmap"),
              absl::StrCat(Capitalized(over_seeds), " of each grid cell."),
              svg::Heatmap(heat)),
      Section(absl::StrCat(metric, " against ",
                           IsModelAxis(table.row_axis()) ? "model size"
                                                         : table.row_axis()),
              median ? "Each line is one column value; each point is the "
                       "median over seeds, with its n and the single seeds "
                       "as faint dots."
                     : "Each line is one column value; error bars are 95% "
                       "Student-t confidence intervals over seeds, with each "
                       "point's n and the single seeds as faint dots.",
              PaperFigureSvg(table, false, in.agg,
                             trends.fits ? &*trends.fits : nullptr)),
      Section("Trends: scaling laws and paired comparisons",
              "Is the trend real? The laws fitted to the cells above, and "
              "each column value against the first.",
              TrendsHtml(trends)),
      Section("Task-A accuracy while task B trains (forgetting frontier)",
              "Task-A test accuracy while task B trains, averaged over seeds; "
              "one panel per column value, one line per row value, all on "
              "one y range.",
              frontiers),
      loss_frontiers.empty()
          ? std::string()
          : Section("Task-A loss while task B trains (language models)",
                    "Task-A held-out loss in bits per byte while task B "
                    "trains, averaged over seeds; one panel per column "
                    "value, one line per row value, all on one y range.",
                    loss_frontiers),
      Section(
          "Accuracy matrices",
          "R[i][j]: accuracy on task j after training task i, mean over seeds.",
          matrices),
      Section("Hyperparameters",
              "The resolved experiment every job starts from (defaults filled "
              "in); the axes and seeds vary the fields marked as such.",
              HyperparameterTable(in.sweep.spec())),
      Section("Provenance",
              "What produced these results. Results are bit-identical for the "
              "same spec, device and thread count.",
              ProvenanceTable(in.results)),
      Section("Sweep specification", "As submitted (text-format SweepSpec).",
              absl::StrCat("<pre>", Escape(spec_text), "</pre>")),
      "</body></html>\n");
}

}  // namespace forgetlab
