// Aggregating stored metric values into a two-axis table with error bars.
#ifndef FORGETLAB_SERVER_TABLE_H_
#define FORGETLAB_SERVER_TABLE_H_

#include <vector>

#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab {

struct TableSample {
  double row = 0;
  double col = 0;
  double value = 0;
  int64_t parameter_count = 0;
};

// Groups samples by (row, col) and fills `table`'s rows (ascending, with the
// mean, smallest and largest parameter count), cols (ascending) and cells
// (row-major): n, mean, sample std, sem, 95% Student-t interval, min, max,
// median and the values themselves in sample order. With n = 1 the std and sem
// are 0 and the interval has zero width. metric/row_axis/col_axis are left as
// they are.
void AggregateTable(const std::vector<TableSample>& samples, v1::Table* table);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_TABLE_H_
