// Planning a table query over the stored metric samples.
#include "server/table_query.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/spec/defaults.h"
#include "proto/spec/field_path.h"
#include "server/table.h"

namespace forgetlab {

absl::Status QueryTable(storage::Store& store,
                        const v1::QueryTableRequest& request,
                        v1::Table* table) {
  if (request.sweep_ids().empty()) {
    return absl::InvalidArgumentError("sweep_ids: name at least one sweep");
  }
  table->set_metric(request.metric().empty() ? "forgetting" : request.metric());
  table->set_row_axis(request.row_axis().empty() ? "model.width"
                                                 : request.row_axis());
  table->set_col_axis(request.col_axis().empty() ? "pretrain.examples"
                                                 : request.col_axis());
  std::vector<TableSample> values;
  std::vector<std::string> ids;
  for (const std::string& id : request.sweep_ids()) {
    absl::StatusOr<std::string> stored = store.GetSweepSpec(id);
    if (!stored.ok()) return stored.status();
    ids.push_back(id);
    v1::SweepSpec spec;
    spec.ParseFromString(*stored);
    // A field the sweep does not vary has its base value in every job.
    const v1::ExperimentSpec base = ResolveDefaults(spec.base());
    std::set<std::string> axes = {"seed"};
    for (const v1::Axis& axis : spec.axes()) axes.insert(axis.path());
    double fixed[2] = {0, 0};
    const std::string* names[2] = {&table->row_axis(), &table->col_axis()};
    const char* fields[2] = {"row_axis", "col_axis"};
    for (int a = 0; a < 2; ++a) {
      absl::StatusOr<double> value = GetNumericField(base, *names[a]);
      if (!value.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(fields[a], ": ", value.status().message()));
      }
      fixed[a] = *value;
    }
    std::vector<std::pair<std::string, double>> axis_filters;
    bool excluded = false;
    for (int f = 0; f < request.where_size(); ++f) {
      const v1::AxisFilter& filter = request.where(f);
      absl::StatusOr<double> value = GetNumericField(base, filter.path());
      if (!value.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("where[", f, "]: ", value.status().message()));
      }
      if (axes.count(filter.path())) {
        axis_filters.emplace_back(filter.path(), filter.value());
      } else if (*value != filter.value()) {
        excluded = true;  // the whole sweep has another value
      }
    }
    if (excluded) continue;
    absl::StatusOr<std::vector<storage::MetricSample>> samples =
        store.MetricSamples({id}, table->metric(), table->row_axis(),
                            table->col_axis(), axis_filters);
    if (!samples.ok()) return samples.status();
    for (const storage::MetricSample& s : *samples) {
      values.push_back({s.row.value_or(fixed[0]), s.col.value_or(fixed[1]),
                        s.value, s.parameter_count});
    }
  }
  if (values.empty()) {
    // No values: nothing finished yet, the filters exclude everything, or
    // the metric is misspelt.
    absl::StatusOr<std::vector<std::string>> names = store.MetricNames(ids);
    if (!names.ok()) return names.status();
    if (!names->empty() && std::find(names->begin(), names->end(),
                                     table->metric()) == names->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric: no stored metric '", table->metric(),
                       "'; these sweeps have: ", absl::StrJoin(*names, ", ")));
    }
  }
  AggregateTable(values, table);
  return absl::OkStatus();
}

}  // namespace forgetlab
