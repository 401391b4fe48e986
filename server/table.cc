// Table aggregation.
#include "server/table.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "proto/stats/student_t.h"

namespace forgetlab {

void AggregateTable(const std::vector<TableSample>& samples, v1::Table* table) {
  std::map<std::pair<double, double>, std::vector<double>> cells;
  struct RowParams {
    double sum = 0;
    int count = 0;
    int64_t min = 0;
    int64_t max = 0;
  };
  std::map<double, RowParams> row_params;
  std::map<double, bool> cols;
  for (const TableSample& s : samples) {
    cells[{s.row, s.col}].push_back(s.value);
    RowParams& p = row_params[s.row];
    p.min =
        p.count == 0 ? s.parameter_count : std::min(p.min, s.parameter_count);
    p.max =
        p.count == 0 ? s.parameter_count : std::max(p.max, s.parameter_count);
    p.sum += static_cast<double>(s.parameter_count);
    p.count += 1;
    cols[s.col] = true;
  }
  table->clear_rows();
  table->clear_cols();
  table->clear_cells();
  for (const auto& [value, params] : row_params) {
    v1::TableRow* row = table->add_rows();
    row->set_value(value);
    row->set_parameter_count(
        static_cast<int64_t>(std::llround(params.sum / params.count)));
    row->set_parameter_count_min(params.min);
    row->set_parameter_count_max(params.max);
  }
  for (const auto& [value, unused] : cols) table->add_cols(value);
  for (const auto& [key, values] : cells) {
    const int n = static_cast<int>(values.size());
    double sum = 0;
    for (double v : values) sum += v;
    const double mean = sum / n;
    double squares = 0;
    for (double v : values) squares += (v - mean) * (v - mean);
    const double std = n > 1 ? std::sqrt(squares / (n - 1)) : 0.0;
    const double sem = n > 1 ? std / std::sqrt(static_cast<double>(n)) : 0.0;
    const double half = n > 1 ? StudentT975(n - 1) * sem : 0.0;
    v1::TableCell* cell = table->add_cells();
    cell->set_row(key.first);
    cell->set_col(key.second);
    cell->set_n(n);
    cell->set_mean(mean);
    cell->set_std(std);
    cell->set_sem(sem);
    cell->set_ci95_low(mean - half);
    cell->set_ci95_high(mean + half);
    cell->set_min(*std::min_element(values.begin(), values.end()));
    cell->set_max(*std::max_element(values.begin(), values.end()));
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const size_t mid = sorted.size() / 2;
    cell->set_median(sorted.size() % 2 == 1
                         ? sorted[mid]
                         : (sorted[mid - 1] + sorted[mid]) / 2);
    for (double v : values) cell->add_values(v);
  }
}

}  // namespace forgetlab
