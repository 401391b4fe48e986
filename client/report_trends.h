// The report's trend sections: the scaling laws fitted to its table (the
// dashed curves of the paper figure and a table of exponents with their CIs)
// and paired comparisons of each column value against the first.
#ifndef FORGETLAB_CLIENT_REPORT_TRENDS_H_
#define FORGETLAB_CLIENT_REPORT_TRENDS_H_

#include <optional>
#include <string>
#include <vector>

#include "client/compare.h"
#include "client/fits.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

struct ReportTrends {
  std::optional<FitReport> fits;
  std::string fits_skipped;  // why there are no fits
  std::vector<Comparison> comparisons;
  std::vector<std::string> comparisons_skipped;
};

// Fits the table's metric against parameter count (model rows) or the row
// value, one law per column value; compares every column value with the
// first over `results` (one sweep's), paired by seed and the other axes.
ReportTrends BuildReportTrends(const v1::Table& table,
                               const std::vector<v1::JobResultEntry>& results);

// The fitted curve of the group whose --by value is `col`, as points along
// [x_min, x_max] (log-spaced when `log_x`); empty when that group has none.
void FittedCurve(const FitReport& fits, double col, double x_min, double x_max,
                 bool log_x, std::vector<double>* x, std::vector<double>* y);

// HTML: the exponents table and the comparisons table, with notes on what
// could not be fitted or paired.
std::string TrendsHtml(const ReportTrends& trends);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_REPORT_TRENDS_H_
