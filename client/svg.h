// Small SVG charts drawn by hand (no scripts, no network): a line chart with
// error bars and a heatmap. Used by the HTML report and `forgetlab plot`.
#ifndef FORGETLAB_CLIENT_SVG_H_
#define FORGETLAB_CLIENT_SVG_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace forgetlab::svg {

// Text safe inside SVG/HTML elements and attributes.
std::string Escape(const std::string& text);

// A compact label for an axis value: 26506 -> "26.5k", 0.05 -> "0.05".
std::string ShortNumber(double v);

struct Series {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
  // Optional error bars: lower and upper ends, same length as y.
  std::vector<double> y_low;
  std::vector<double> y_high;
  // Optional, same length as y: how many values each point summarises
  // (written next to it as "n=3"), and those values (drawn as faint dots).
  std::vector<int> n;
  std::vector<std::vector<double>> values;
  // Optional: a fitted curve, drawn dashed in the series' colour (its points
  // do not widen the y range; they are clipped to it).
  std::vector<double> fit_x;
  std::vector<double> fit_y;
};

struct LineChartOptions {
  std::string title;
  std::string x_label;  // with units, e.g. "parameters (count, log scale)"
  std::string y_label;
  bool log_x = false;
  // What the series labels are values of, e.g. "pretrain.examples"; shown
  // above the legend.
  std::string legend_title;
  // A fixed y range, e.g. shared by several panels; unset fits the data.
  std::optional<std::pair<double, double>> y_range;
  int width = 640;
  int height = 400;
  // Adds xmlns so the SVG stands alone as a file.
  bool standalone = false;
};

// Axes with ticks and labels (the x axis fits the data; at least 4 y ticks),
// one coloured polyline with markers (error bars, n and the single values
// when given) per series, and a legend under its title.
std::string LineChart(const std::vector<Series>& series,
                      const LineChartOptions& options);

struct HeatmapData {
  std::string title;
  std::string row_title;
  std::string col_title;
  std::string value_label;  // the colour bar's label, with units
  std::vector<std::string> row_labels;
  std::vector<std::string> col_labels;
  std::vector<std::vector<std::optional<double>>> values;  // [row][col]
};

// One rectangle per cell, coloured on a white-to-red scale from the smallest
// to the largest value, with the value written in it; a colour bar.
std::string Heatmap(const HeatmapData& data);

}  // namespace forgetlab::svg

#endif  // FORGETLAB_CLIENT_SVG_H_
