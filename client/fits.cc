// Scaling-law fits of a table and their text and JSON forms.
#include "client/fits.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "proto/net/json_writer.h"

namespace forgetlab {
namespace {

struct Group {
  int64_t parameter_count = 0;
  std::vector<stats::Cell> cells;
};

std::string Value(double v) { return absl::StrFormat("%g", v); }

}  // namespace

absl::StatusOr<FitReport> FitTable(const v1::Table& table,
                                   const FitLayout& layout) {
  FitReport report;
  report.metric = table.metric();
  report.x = layout.x;
  report.by = layout.x_on_cols ? table.row_axis() : table.col_axis();
  report.y = layout.x_on_cols ? kParameterCount : report.by;
  report.pooled_over.assign(table.pooled_over().begin(),
                            table.pooled_over().end());
  report.duplicates_dropped = table.duplicates_dropped();
  report.bootstrap = layout.bootstrap;
  std::map<double, const v1::TableRow*> rows;
  for (const v1::TableRow& row : table.rows()) rows[row.value()] = &row;
  const bool by_parameters = layout.x == kParameterCount;
  // A row's parameter count, when it holds one model size.
  auto parameters = [&](double row_value) -> absl::StatusOr<int64_t> {
    const v1::TableRow& row = *rows.at(row_value);
    if (row.parameter_count_min() != row.parameter_count_max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          table.row_axis(), " = ", Value(row_value), " holds models of ",
          row.parameter_count_min(), " to ", row.parameter_count_max(),
          " parameters, so parameter_count is not one x; fix the other "
          "model fields with --where (pooled over: ",
          table.pooled_over_size() > 0 ? table.pooled_over(0).path() : "?",
          ")"));
    }
    return row.parameter_count();
  };

  std::map<double, Group> groups;
  std::set<std::string> left_out;
  for (const v1::TableCell& cell : table.cells()) {
    const double group = layout.x_on_cols ? cell.row() : cell.col();
    double x = layout.x_on_cols ? cell.col() : cell.row();
    Group& g = groups[group];
    if (by_parameters) {
      absl::StatusOr<int64_t> p = parameters(cell.row());
      if (!p.ok()) return p.status();
      x = static_cast<double>(*p);
    }
    if (layout.x_on_cols) {
      absl::StatusOr<int64_t> p = parameters(cell.row());
      g.parameter_count = p.ok() ? *p : 0;
    }
    if (!(x > 0)) {
      left_out.insert(
          absl::StrCat(layout.x, " = ", Value(x), ": a power law needs x > 0"));
      continue;
    }
    g.cells.push_back(
        {x, 1,
         std::vector<double>(cell.values().begin(), cell.values().end())});
  }
  std::vector<stats::Cell> joint_cells;
  std::set<double> ys;
  for (auto& [value, g] : groups) {
    GroupFit fit;
    fit.value = value;
    fit.parameter_count = g.parameter_count;
    absl::StatusOr<stats::Trend> trend =
        stats::FitTrend(g.cells, layout.bootstrap);
    if (trend.ok()) {
      fit.trend = *std::move(trend);
    } else {
      fit.skipped = std::string(trend.status().message());
    }
    report.groups.push_back(std::move(fit));
    const double y =
        layout.x_on_cols ? static_cast<double>(g.parameter_count) : value;
    if (!(y > 0)) {
      left_out.insert(absl::StrCat("joint law: ", report.y, " = ", Value(y),
                                   ": a power law needs y > 0"));
      continue;
    }
    for (stats::Cell cell : g.cells) {
      cell.y = y;
      joint_cells.push_back(std::move(cell));
      ys.insert(y);
    }
  }
  absl::StatusOr<stats::Trend> joint =
      stats::FitJointTrend(joint_cells, layout.bootstrap);
  if (joint.ok()) {
    report.joint = *std::move(joint);
  } else {
    report.joint_skipped = std::string(joint.status().message());
  }
  report.left_out.assign(left_out.begin(), left_out.end());
  return report;
}

namespace {

std::string Ci(const stats::Interval& ci) {
  return absl::StrFormat("[%.4g, %.4g]", ci.low, ci.high);
}

std::string Resolved(const stats::Interval& ci) {
  return ci.ExcludesZero() ? "resolved" : "not resolved (the CI holds 0)";
}

std::string GroupTitle(const FitReport& r, const GroupFit& g) {
  std::string title = absl::StrCat(r.by, " = ", Value(g.value));
  if (g.parameter_count > 0) {
    absl::StrAppend(&title, " (", g.parameter_count, " parameters)");
  }
  return title;
}

}  // namespace

std::string FitText(const FitReport& r) {
  std::string out = absl::StrFormat(
      "%s against %s, one law per %s\nbootstrap: %d resamples of the seeds "
      "within each cell, seed %d\n",
      r.metric, r.x, r.by, r.bootstrap.resamples, r.bootstrap.seed);
  for (const v1::PooledAxis& p : r.pooled_over) {
    absl::StrAppend(&out, "pooled over: ", p.path(), " (",
                    absl::StrJoin(p.values(), ", "), ")\n");
  }
  if (r.duplicates_dropped > 0) {
    absl::StrAppend(&out, "duplicates dropped: ", r.duplicates_dropped, "\n");
  }
  for (const GroupFit& g : r.groups) {
    absl::StrAppend(&out, "\n", GroupTitle(r, g), "\n");
    if (!g.trend) {
      absl::StrAppend(&out, "  not fitted: ", g.skipped, "\n");
      continue;
    }
    const stats::Trend& t = *g.trend;
    absl::StrAppend(
        &out,
        absl::StrFormat("  law    %s = %.4g %+.4g * x^%.4g   R2 = %.3f   n = "
                        "%d in %d cells%s\n",
                        r.metric, t.law.c, t.law.a, t.law.alpha, t.law.r2,
                        t.results, t.points.size(),
                        t.law.at_bound ? "   (alpha at the search bound)" : ""),
        absl::StrFormat("  alpha  %.4g  95%% CI %s  %s\n", t.law.alpha,
                        Ci(t.alpha), Resolved(t.alpha)),
        absl::StrFormat("  slope  %+.4g per tenfold %s  95%% CI %s  %s\n",
                        t.slope.slope, r.x, Ci(t.slope_ci), t.Direction()),
        t.points.size() == 3
            ? "  note   3 cells for 3 parameters (c, a, alpha): the law runs "
              "through every mean, and alpha's CI says little; add model "
              "sizes to pin alpha, or read the slope\n"
            : "",
        absl::StrFormat("  %14s %4s %10s %10s\n", "x", "n", "mean", "fitted"));
    for (const stats::FitPoint& p : t.points) {
      absl::StrAppend(&out, absl::StrFormat("  %14g %4d %10.4g %10.4g\n", p.x,
                                            static_cast<int>(p.weight), p.mean,
                                            t.law.Predict(p.x)));
    }
  }
  absl::StrAppend(&out, "\njoint law: ", r.metric, " = c + a * ", r.x,
                  "^alpha * ", r.y, "^beta\n");
  if (!r.joint) {
    absl::StrAppend(&out, "  not fitted: ", r.joint_skipped, "\n");
  } else {
    const stats::Trend& t = *r.joint;
    absl::StrAppend(
        &out,
        absl::StrFormat(
            "  c = %.4g, a = %.4g   R2 = %.3f   n = %d in %d "
            "cells%s\n",
            t.law.c, t.law.a, t.law.r2, t.results, t.points.size(),
            t.law.at_bound ? "   (an exponent at the search bound)" : ""),
        absl::StrFormat("  alpha  %.4g  95%% CI %s  %s\n", t.law.alpha,
                        Ci(t.alpha), Resolved(t.alpha)),
        absl::StrFormat("  beta   %.4g  95%% CI %s  %s\n", t.law.beta,
                        Ci(t.beta), Resolved(t.beta)));
  }
  for (const std::string& l : r.left_out) {
    absl::StrAppend(&out, "left out: ", l, "\n");
  }
  return out;
}

namespace {

std::string JsonCi(const stats::Interval& ci) {
  return absl::StrCat("[", JsonNumber(ci.low), ", ", JsonNumber(ci.high), "]");
}

std::string JsonLaw(const stats::Trend& t) {
  std::string out = absl::StrCat("{\"c\": ", JsonNumber(t.law.c),
                                 ", \"a\": ", JsonNumber(t.law.a),
                                 ", \"alpha\": ", JsonNumber(t.law.alpha),
                                 ", \"alpha_ci95\": ", JsonCi(t.alpha));
  if (t.joint) {
    absl::StrAppend(&out, ", \"beta\": ", JsonNumber(t.law.beta),
                    ", \"beta_ci95\": ", JsonCi(t.beta));
  }
  absl::StrAppend(&out, ", \"r2\": ", JsonNumber(t.law.r2),
                  ", \"at_bound\": ", t.law.at_bound ? "true" : "false", "}");
  return out;
}

std::string JsonFitted(const stats::Trend& t) {
  std::vector<std::string> points;
  for (const stats::FitPoint& p : t.points) {
    points.push_back(absl::StrCat(
        "{\"x\": ", JsonNumber(p.x),
        t.joint ? absl::StrCat(", \"y\": ", JsonNumber(p.y)) : "", ", \"n\": ",
        static_cast<int>(p.weight), ", \"mean\": ", JsonNumber(p.mean),
        ", \"fitted\": ", JsonNumber(t.law.Predict(p.x, p.y)), "}"));
  }
  return absl::StrCat("[", absl::StrJoin(points, ", "), "]");
}

}  // namespace

std::string FitJson(const FitReport& r) {
  std::vector<std::string> pooled, left_out, groups;
  for (const v1::PooledAxis& p : r.pooled_over) {
    std::vector<std::string> values;
    for (const std::string& v : p.values()) values.push_back(JsonString(v));
    pooled.push_back(absl::StrCat(
        "{\"path\": ", JsonString(p.path()), ", \"distinct\": ", p.distinct(),
        ", \"values\": [", absl::StrJoin(values, ", "), "]}"));
  }
  for (const std::string& l : r.left_out) left_out.push_back(JsonString(l));
  for (const GroupFit& g : r.groups) {
    std::string group = absl::StrCat("{\"by\": ", JsonNumber(g.value));
    if (g.parameter_count > 0) {
      absl::StrAppend(&group, ", \"parameter_count\": ", g.parameter_count);
    }
    if (!g.trend) {
      absl::StrAppend(&group, ", \"skipped\": ", JsonString(g.skipped), "}");
      groups.push_back(group);
      continue;
    }
    const stats::Trend& t = *g.trend;
    absl::StrAppend(
        &group, ", \"n\": ", t.results, ", \"cells\": ", t.points.size(),
        ", \"law\": ", JsonLaw(t),
        ", \"slope_per_decade\": {\"slope\": ", JsonNumber(t.slope.slope),
        ", \"ci95\": ", JsonCi(t.slope_ci),
        "}, \"trend\": ", JsonString(t.Direction()),
        ", \"fitted\": ", JsonFitted(t), "}");
    groups.push_back(group);
  }
  std::string joint = "null";
  if (r.joint) {
    const stats::Trend& t = *r.joint;
    joint = absl::StrCat(
        "{\"n\": ", t.results, ", \"cells\": ", t.points.size(),
        ", \"law\": ", JsonLaw(t), ", \"trend\": ", JsonString(t.Direction()),
        ", \"fitted\": ", JsonFitted(t), "}");
  }
  std::string out = absl::StrCat(
      "{\"metric\": ", JsonString(r.metric), ", \"x\": ", JsonString(r.x),
      ", \"by\": ", JsonString(r.by), ", \"y\": ", JsonString(r.y),
      ", \"bootstrap\": {\"resamples\": ", r.bootstrap.resamples,
      ", \"seed\": ", r.bootstrap.seed, "}, \"pooled_over\": [",
      absl::StrJoin(pooled, ", "),
      "], \"duplicates_dropped\": ", r.duplicates_dropped, ", \"left_out\": [",
      absl::StrJoin(left_out, ", "), "], \"groups\": [",
      absl::StrJoin(groups, ", "), "], \"joint\": ", joint);
  if (!r.joint) {
    absl::StrAppend(&out, ", \"joint_skipped\": ", JsonString(r.joint_skipped));
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

}  // namespace forgetlab
