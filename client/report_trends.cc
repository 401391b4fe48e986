// The report's fitted laws and paired comparisons.
#include "client/report_trends.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/svg.h"

namespace forgetlab {

ReportTrends BuildReportTrends(const v1::Table& table,
                               const std::vector<v1::JobResultEntry>& results) {
  ReportTrends out;
  FitLayout layout;
  layout.x = table.row_axis().rfind("model.", 0) == 0 ? kParameterCount
                                                      : table.row_axis();
  absl::StatusOr<FitReport> fits = FitTable(table, layout);
  if (fits.ok()) {
    out.fits = *std::move(fits);
  } else {
    out.fits_skipped = std::string(fits.status().message());
  }
  for (int i = 1; i < table.cols_size(); ++i) {
    absl::StatusOr<Comparison> c =
        ComparePairs(results, table.metric(), table.col_axis(), table.cols(0),
                     table.cols(i));
    if (c.ok()) {
      out.comparisons.push_back(*std::move(c));
    } else {
      out.comparisons_skipped.push_back(
          absl::StrFormat("%s = %g against %g: %s", table.col_axis(),
                          table.cols(i), table.cols(0), c.status().message()));
    }
  }
  return out;
}

void FittedCurve(const FitReport& fits, double col, double x_min, double x_max,
                 bool log_x, std::vector<double>* x, std::vector<double>* y) {
  for (const GroupFit& g : fits.groups) {
    if (g.value != col || !g.trend || !(x_min > 0) || !(x_max > x_min)) {
      continue;
    }
    constexpr int kPoints = 40;
    for (int i = 0; i <= kPoints; ++i) {
      const double t = static_cast<double>(i) / kPoints;
      const double v =
          log_x ? std::pow(10.0, std::log10(x_min) + t * (std::log10(x_max) -
                                                          std::log10(x_min)))
                : x_min + t * (x_max - x_min);
      x->push_back(v);
      y->push_back(g.trend->law.Predict(v));
    }
  }
}

namespace {

std::string Ci(const stats::Interval& ci) {
  return absl::StrFormat("[%.3g, %.3g]", ci.low, ci.high);
}

std::string Cell(const std::string& text) {
  return absl::StrCat("<td>", svg::Escape(text), "</td>");
}

}  // namespace

std::string TrendsHtml(const ReportTrends& t) {
  std::string out;
  if (!t.fits) {
    absl::StrAppend(&out, "<p>No law fitted: ", svg::Escape(t.fits_skipped),
                    "</p>\n");
  } else {
    const FitReport& f = *t.fits;
    absl::StrAppend(
        &out, "<p>", svg::Escape(f.metric),
        " = c + a &middot; x<sup>&alpha;</sup>, x = ", svg::Escape(f.x),
        ", fitted per value of <code>", svg::Escape(f.by),
        "</code> (the dashed curves above). 95% CIs from ",
        f.bootstrap.resamples,
        " bootstrap resamples of the seeds within each cell (seed ",
        f.bootstrap.seed,
        "). A trend whose CI holds 0 is not resolved; an exponent CI that "
        "reaches &plusmn;4 met the search bound.</p>\n"
        "<table class=\"kv trends\"><tr><th>",
        svg::Escape(f.by),
        "</th><th>&alpha;</th><th>95% CI</th><th>slope per tenfold x</th>"
        "<th>95% CI</th><th>trend</th><th>R&sup2;</th><th>n "
        "(cells)</th></tr>\n");
    for (const GroupFit& g : f.groups) {
      absl::StrAppend(&out, "<tr>", Cell(svg::ShortNumber(g.value)));
      if (!g.trend) {
        absl::StrAppend(&out, "<td colspan=\"7\">not fitted: ",
                        svg::Escape(g.skipped), "</td></tr>\n");
        continue;
      }
      const stats::Trend& tr = *g.trend;
      absl::StrAppend(
          &out, Cell(absl::StrFormat("%.3g", tr.law.alpha)), Cell(Ci(tr.alpha)),
          Cell(absl::StrFormat("%+.3g", tr.slope.slope)), Cell(Ci(tr.slope_ci)),
          Cell(tr.Direction()), Cell(absl::StrFormat("%.3f", tr.law.r2)),
          Cell(absl::StrFormat("%d (%zu)", tr.results, tr.points.size())),
          "</tr>\n");
    }
    absl::StrAppend(&out, "</table>\n");
    if (f.joint) {
      const stats::Trend& j = *f.joint;
      absl::StrAppend(
          &out, absl::StrFormat(
                    "<p>Joint law %s = c + a &middot; %s<sup>&alpha;</sup> "
                    "&middot; %s<sup>&beta;</sup>: &alpha; = %.3g %s, "
                    "&beta; = %.3g %s, R&sup2; = %.3f, n = %d in %zu "
                    "cells.</p>\n",
                    svg::Escape(f.metric), svg::Escape(f.x), svg::Escape(f.y),
                    j.law.alpha, Ci(j.alpha), j.law.beta, Ci(j.beta), j.law.r2,
                    j.results, j.points.size()));
    } else {
      absl::StrAppend(&out, "<p>No joint law: ", svg::Escape(f.joint_skipped),
                      "</p>\n");
    }
  }
  if (!t.comparisons.empty()) {
    const Comparison& first = t.comparisons.front();
    absl::StrAppend(
        &out, "<h3>Paired comparisons</h3>\n<p>Each value of <code>",
        svg::Escape(first.axis), "</code> against ", svg::ShortNumber(first.a),
        ", over results paired by seed and every other axis: the mean "
        "difference (b &minus; a) with its 95% Student-t CI and the effect "
        "size "
        "d<sub>z</sub> (mean / sd of the differences).</p>\n"
        "<table class=\"kv comparisons\"><tr><th>b</th><th>pairs</th>"
        "<th>mean at a</th><th>mean at b</th><th>b &minus; a</th><th>95% "
        "CI</th>"
        "<th>d<sub>z</sub></th><th></th></tr>\n");
    for (const Comparison& c : t.comparisons) {
      const stats::PairedDifference& d = c.difference;
      absl::StrAppend(
          &out, "<tr>", Cell(svg::ShortNumber(c.b)),
          Cell(absl::StrCat(d.pairs)), Cell(absl::StrFormat("%.4g", d.mean_a)),
          Cell(absl::StrFormat("%.4g", d.mean_b)),
          Cell(absl::StrFormat("%+.4g", d.mean)),
          Cell(absl::StrFormat("[%.4g, %.4g]", d.ci_low, d.ci_high)),
          Cell(absl::StrFormat("%.3g", d.effect_size)),
          Cell(c.Resolved() ? "resolved" : "not resolved"), "</tr>\n");
    }
    absl::StrAppend(&out, "</table>\n");
  }
  for (const std::string& s : t.comparisons_skipped) {
    absl::StrAppend(&out, "<p>Not compared: ", svg::Escape(s), "</p>\n");
  }
  return out;
}

}  // namespace forgetlab
