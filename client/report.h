// The HTML report and the paper-style figure of a sweep, rendered from API
// messages into self-contained files (inline SVG and CSS, no scripts, no
// network).
#ifndef FORGETLAB_CLIENT_REPORT_H_
#define FORGETLAB_CLIENT_REPORT_H_

#include <string>
#include <vector>

#include "client/fits.h"
#include "client/render.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

struct ReportInput {
  v1::SweepStatus sweep;  // with its spec
  v1::Table table;        // the metric over rows x columns
  std::vector<v1::JobResultEntry> results;
  Aggregation agg = Aggregation::kMean;  // kMean or kMedian
};

// The metric against model size, one line per column value (e.g. pretraining
// size), with 95% CI error bars. The x axis is the parameter count (log
// scale) when rows are a model axis, else the row value.
// With kMedian the points are medians and carry no error bars. Every point
// shows its n and its single values as faint dots.
// With `fits`, each line also gets its fitted law as a dashed curve.
std::string PaperFigureSvg(const v1::Table& table, bool standalone,
                           Aggregation agg = Aggregation::kMean,
                           const FitReport* fits = nullptr);

// The whole report: what the table pooled over, heatmap, paper figure with
// the fitted laws, the exponents with their CIs and paired comparisons of the
// columns (client/report_trends.h), forgetting frontiers (task-1 accuracy while
// task 2 trains), mean accuracy matrices, the resolved hyperparameters, the
// provenance of the results and the sweep spec (without its request_id).
std::string ReportHtml(const ReportInput& input);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_REPORT_H_
