// A QueryTable call: the axes' values per sweep (a field a sweep does not
// vary has its base value in every job), the --where filters (an axis is
// filtered in SQL, a fixed field keeps or drops the whole sweep), the
// samples, and their aggregation (table.h).
#ifndef FORGETLAB_SERVER_TABLE_QUERY_H_
#define FORGETLAB_SERVER_TABLE_QUERY_H_

#include "absl/status/status.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "storage/store.h"

namespace forgetlab {

// The most sweeps and --where filters one table takes.
inline constexpr int kMaxTableSweeps = 100;
inline constexpr int kMaxTableFilters = 16;

// Fills `table` for `request` (defaults: forgetting by model.width and
// pretrain.examples). INVALID_ARGUMENT names the request field at fault
// (sweep_ids, row_axis, col_axis, where[i], metric); NOT_FOUND an unknown
// sweep.
absl::Status QueryTable(storage::Store& store,
                        const v1::QueryTableRequest& request, v1::Table* table);

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_TABLE_QUERY_H_
