// Hand-drawn SVG charts.
#include "client/svg.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace forgetlab::svg {
namespace {

// A colour-blind-friendly palette (Okabe-Ito).
const char* const kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                "#E69F00", "#56B4E9", "#000000", "#F0E442"};

std::string Num(double v) { return absl::StrFormat("%.2f", v); }

// Tick values for a linear axis over [low, high]: steps of 1, 2 or 5 x 10^k,
// the largest step that still gives at least 4 ticks.
std::vector<double> LinearTicks(double low, double high) {
  const double span = high - low;
  if (!(span > 0)) return {low};
  const double magnitude = std::pow(10, std::floor(std::log10(span)));
  std::vector<double> ticks;
  for (double step : {magnitude, magnitude / 2, magnitude / 5, magnitude / 10,
                      magnitude / 20, magnitude / 50}) {
    ticks.clear();
    for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9;
         t += step) {
      ticks.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
    }
    if (ticks.size() >= 4) break;
  }
  return ticks;
}

// Ticks for a log axis over [10^low, 10^high]: the decades inside, and 2 and
// 5 times them when fewer than 3 decades fit.
std::vector<double> LogTicks(double low, double high) {
  std::vector<double> ticks;
  const bool fine = std::floor(high) - std::ceil(low) < 2;
  for (double e = std::floor(low); e <= std::ceil(high); e += 1) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && !fine) continue;
      const double v = m * std::pow(10, e);
      const double l = std::log10(v);
      if (l >= low - 1e-9 && l <= high + 1e-9) ticks.push_back(v);
    }
  }
  return ticks;
}

struct Range {
  double low = 0, high = 1;
};

// Pads a data range so points do not sit on the frame.
Range Padded(double low, double high) {
  if (!(high > low)) {
    const double pad = std::fabs(low) > 0 ? std::fabs(low) * 0.1 : 0.1;
    return {low - pad, high + pad};
  }
  const double pad = (high - low) * 0.08;
  return {low - pad, high + pad};
}

}  // namespace

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string ShortNumber(double v) {
  const double a = std::fabs(v);
  if (a >= 1e6) return absl::StrFormat("%.3gM", v / 1e6);
  if (a >= 1e3) return absl::StrFormat("%.3gk", v / 1e3);
  return absl::StrFormat("%g", v);
}

std::string LineChart(const std::vector<Series>& series,
                      const LineChartOptions& o) {
  const double left = 70, right = 160, top = 40, bottom = 55;
  const double plot_w = o.width - left - right;
  const double plot_h = o.height - top - bottom;
  // Data ranges (error bars included).
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY,
         y_max = -INFINITY;
  for (const Series& s : series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double x = o.log_x ? std::log10(std::max(s.x[i], 1e-12)) : s.x[i];
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, i < s.y_low.size() ? s.y_low[i] : s.y[i]);
      y_max = std::max(y_max, i < s.y_high.size() ? s.y_high[i] : s.y[i]);
      if (i < s.values.size()) {
        for (double v : s.values[i]) {
          y_min = std::min(y_min, v);
          y_max = std::max(y_max, v);
        }
      }
    }
  }
  if (!std::isfinite(x_min)) x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  const Range xr = Padded(x_min, x_max);
  const Range yr = o.y_range.has_value()
                       ? Range{o.y_range->first, o.y_range->second}
                       : Padded(y_min, y_max);
  auto base_px = [&](double x) {
    const double v = o.log_x ? std::log10(std::max(x, 1e-12)) : x;
    return left + (v - xr.low) / (xr.high - xr.low) * plot_w;
  };
  auto py = [&](double y) {
    return top + plot_h - (y - yr.low) / (yr.high - yr.low) * plot_h;
  };

  std::string out =
      absl::StrCat("<svg class=\"chart\" width=\"", o.width, "\" height=\"",
                   o.height, "\" viewBox=\"0 0 ", o.width, " ", o.height, "\"",
                   o.standalone ? " xmlns=\"http://www.w3.org/2000/svg\"" : "",
                   " font-family=\"sans-serif\" font-size=\"12\">\n",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
                   "<text x=\"", o.width / 2,
                   "\" y=\"22\" text-anchor=\"middle\" "
                   "font-size=\"15\" font-weight=\"bold\">",
                   Escape(o.title), "</text>\n");
  // Frame, grid and ticks.
  absl::StrAppend(&out, "<rect x=\"", Num(left), "\" y=\"", Num(top),
                  "\" width=\"", Num(plot_w), "\" height=\"", Num(plot_h),
                  "\" fill=\"none\" stroke=\"#333\"/>\n");
  const std::vector<double> x_ticks =
      o.log_x ? LogTicks(xr.low, xr.high) : LinearTicks(xr.low, xr.high);
  for (double t : x_ticks) {
    const double x = base_px(t);
    absl::StrAppend(&out, "<line class=\"tick\" x1=\"", Num(x), "\" y1=\"",
                    Num(top), "\" x2=\"", Num(x), "\" y2=\"", Num(top + plot_h),
                    "\" stroke=\"#ddd\"/>\n<text x=\"", Num(x), "\" y=\"",
                    Num(top + plot_h + 18), "\" text-anchor=\"middle\">",
                    ShortNumber(t), "</text>\n");
  }
  for (double t : LinearTicks(yr.low, yr.high)) {
    const double y = py(t);
    absl::StrAppend(&out, "<line class=\"tick\" x1=\"", Num(left), "\" y1=\"",
                    Num(y), "\" x2=\"", Num(left + plot_w), "\" y2=\"", Num(y),
                    "\" stroke=\"#ddd\"/>\n<text x=\"", Num(left - 6),
                    "\" y=\"", Num(y + 4), "\" text-anchor=\"end\">",
                    absl::StrFormat("%g", t), "</text>\n");
  }
  absl::StrAppend(&out, "<text x=\"", Num(left + plot_w / 2), "\" y=\"",
                  o.height - 12, "\" text-anchor=\"middle\">",
                  Escape(o.x_label), "</text>\n<text transform=\"translate(18,",
                  Num(top + plot_h / 2),
                  ") rotate(-90)\" text-anchor=\"middle\">", Escape(o.y_label),
                  "</text>\n");
  if (!o.legend_title.empty()) {
    absl::StrAppend(&out, "<text x=\"", Num(left + plot_w + 14), "\" y=\"",
                    Num(top + 14),
                    "\" font-weight=\"bold\" class=\"legend-title\">",
                    Escape(o.legend_title), "</text>\n");
  }
  // Series.
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const char* color = kPalette[k % 8];
    // Series with error bars are nudged apart so their bars do not overlap.
    const double nudge = s.y_low.empty()
                             ? 0
                             : (static_cast<double>(k) -
                                (static_cast<double>(series.size()) - 1) / 2) *
                                   5;
    auto px = [&](double x) { return base_px(x) + nudge; };
    std::string points;
    for (size_t i = 0; i < s.x.size(); ++i) {
      absl::StrAppend(&points, i ? " " : "", Num(px(s.x[i])), ",",
                      Num(py(s.y[i])));
    }
    absl::StrAppend(&out, "<g class=\"series\"><polyline points=\"", points,
                    "\" fill=\"none\" stroke=\"", color,
                    "\" stroke-width=\"2\"/>\n");
    if (!s.fit_x.empty()) {
      std::string fit;
      for (size_t i = 0; i < s.fit_x.size() && i < s.fit_y.size(); ++i) {
        const double y = std::clamp(s.fit_y[i], yr.low, yr.high);
        absl::StrAppend(&fit, i ? " " : "", Num(base_px(s.fit_x[i])), ",",
                        Num(py(y)));
      }
      absl::StrAppend(&out, "<polyline class=\"fit\" points=\"", fit,
                      "\" fill=\"none\" stroke=\"", color,
                      "\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\n");
    }
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double x = px(s.x[i]);
      if (i < s.values.size()) {
        for (double v : s.values[i]) {
          absl::StrAppend(&out, "<circle class=\"single\" cx=\"", Num(x),
                          "\" cy=\"", Num(py(v)), "\" r=\"2\" fill=\"", color,
                          "\" fill-opacity=\"0.3\"/>\n");
        }
      }
      if (i < s.n.size()) {
        absl::StrAppend(&out, "<text class=\"n\" x=\"", Num(x + 5), "\" y=\"",
                        Num(py(s.y[i]) - 6), "\" font-size=\"9\" fill=\"",
                        color, "\">n=", s.n[i], "</text>\n");
      }
      if (i < s.y_low.size() && i < s.y_high.size()) {
        const double lo = py(s.y_low[i]), hi = py(s.y_high[i]);
        absl::StrAppend(&out, "<path class=\"errorbar\" d=\"M", Num(x), " ",
                        Num(lo), "V", Num(hi), "M", Num(x - 4), " ", Num(lo),
                        "h8M", Num(x - 4), " ", Num(hi), "h8\" stroke=\"",
                        color, "\" fill=\"none\"/>\n");
      }
      absl::StrAppend(&out, "<circle cx=\"", Num(x), "\" cy=\"",
                      Num(py(s.y[i])), "\" r=\"3.5\" fill=\"", color, "\"/>\n");
    }
    absl::StrAppend(&out, "</g>\n");
    // Legend entry.
    const double ly = top + 30 + 20 * static_cast<double>(k);
    absl::StrAppend(&out, "<g class=\"legend\"><line x1=\"",
                    Num(left + plot_w + 14), "\" y1=\"", Num(ly), "\" x2=\"",
                    Num(left + plot_w + 38), "\" y2=\"", Num(ly),
                    "\" stroke=\"", color, "\" stroke-width=\"2\"/><text x=\"",
                    Num(left + plot_w + 44), "\" y=\"", Num(ly + 4), "\">",
                    Escape(s.label), "</text></g>\n");
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

std::string Heatmap(const HeatmapData& d) {
  const int cell_w = 110, cell_h = 34, left = 150, top = 60;
  const int cols = static_cast<int>(d.col_labels.size());
  const int rows = static_cast<int>(d.row_labels.size());
  const int width = left + cols * cell_w + 300;
  const int height = top + rows * cell_h + 50;
  double low = INFINITY, high = -INFINITY;
  for (const auto& row : d.values) {
    for (const auto& v : row) {
      if (v.has_value()) {
        low = std::min(low, *v);
        high = std::max(high, *v);
      }
    }
  }
  if (!std::isfinite(low)) low = 0, high = 1;
  // White (low) to red (high).
  auto color = [&](double v) {
    const double t = high > low ? (v - low) / (high - low) : 0.5;
    const int g = static_cast<int>(std::lround(245 - 180 * t));
    return absl::StrFormat("rgb(%d,%d,%d)", 250 - static_cast<int>(30 * t), g,
                           static_cast<int>(std::lround(240 - 200 * t)));
  };
  std::string out = absl::StrCat(
      "<svg class=\"heatmap\" width=\"", width, "\" height=\"", height,
      "\" viewBox=\"0 0 ", width, " ", height,
      "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"",
      width / 2,
      "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" "
      "font-weight=\"bold\">",
      Escape(d.title), "</text>\n<text x=\"", left + cols * cell_w / 2,
      "\" y=\"40\" text-anchor=\"middle\">", Escape(d.col_title), "</text>\n",
      "<text x=\"10\" y=\"", top - 8, "\">", Escape(d.row_title), "</text>\n");
  for (int c = 0; c < cols; ++c) {
    absl::StrAppend(&out, "<text x=\"", left + c * cell_w + cell_w / 2,
                    "\" y=\"", top - 8, "\" text-anchor=\"middle\">",
                    Escape(d.col_labels[c]), "</text>\n");
  }
  for (int r = 0; r < rows; ++r) {
    const int y = top + r * cell_h;
    absl::StrAppend(&out, "<text x=\"", left - 8, "\" y=\"", y + cell_h / 2 + 4,
                    "\" text-anchor=\"end\">", Escape(d.row_labels[r]),
                    "</text>\n");
    for (int c = 0; c < cols; ++c) {
      const std::optional<double>& v = d.values[r][c];
      const int x = left + c * cell_w;
      absl::StrAppend(
          &out, "<rect class=\"cell\" x=\"", x, "\" y=\"", y, "\" width=\"",
          cell_w, "\" height=\"", cell_h, "\" fill=\"",
          v.has_value() ? color(*v) : std::string("#eee"),
          "\" stroke=\"white\"/>\n<text x=\"", x + cell_w / 2, "\" y=\"",
          y + cell_h / 2 + 4, "\" text-anchor=\"middle\">",
          v.has_value() ? absl::StrFormat("%.4f", *v) : "-", "</text>\n");
    }
  }
  // Colour bar.
  const int bar_x = left + cols * cell_w + 30, bar_h = rows * cell_h;
  for (int i = 0; i < 20; ++i) {
    const double v = high - (high - low) * i / 19.0;
    absl::StrAppend(&out, "<rect x=\"", bar_x, "\" y=\"", top + bar_h * i / 20,
                    "\" width=\"16\" height=\"", bar_h / 20 + 1, "\" fill=\"",
                    color(v), "\"/>\n");
  }
  absl::StrAppend(
      &out, "<text x=\"", bar_x + 20, "\" y=\"", top + 10, "\">",
      absl::StrFormat("%.3f", high), "</text>\n<text x=\"", bar_x + 20,
      "\" y=\"", top + bar_h, "\">", absl::StrFormat("%.3f", low),
      "</text>\n<text x=\"", bar_x + 60, "\" y=\"", top + bar_h / 2,
      "\" font-size=\"11\">", Escape(d.value_label), "</text>\n</svg>\n");
  return out;
}

}  // namespace forgetlab::svg
