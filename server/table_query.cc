// Planning a table query over the stored metric samples.
#include "server/table_query.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/spec/defaults.h"
#include "proto/spec/field_path.h"
#include "server/table.h"

namespace forgetlab {
namespace {

// What the samples of one sweep vary in: its resolved base (every field it
// does not sweep has this value in every job), its axes, and the distinct
// combinations of its other axes' values among the samples used.
struct SweepFields {
  std::vector<std::pair<std::string, std::string>> base;
  std::set<std::string> axes;
  std::set<std::string> other_axes;  // MetricSample::other_axes strings
};

// Path -> distinct values over every sweep that gave a sample.
std::map<std::string, std::set<std::string>> DistinctValues(
    const std::vector<SweepFields>& sweeps) {
  std::map<std::string, std::set<std::string>> values;
  for (const SweepFields& sweep : sweeps) {
    if (sweep.other_axes.empty()) continue;  // no samples from this sweep
    for (const auto& [path, text] : sweep.base) {
      if (sweep.axes.count(path) == 0) values[path].insert(text);
    }
    for (const std::string& combination : sweep.other_axes) {
      for (absl::string_view pair :
           absl::StrSplit(combination, ';', absl::SkipEmpty())) {
        const size_t eq = pair.rfind('=');
        double value = 0;
        if (eq == absl::string_view::npos ||
            !absl::SimpleAtod(pair.substr(eq + 1), &value)) {
          continue;
        }
        values[std::string(pair.substr(0, eq))].insert(FieldText(value));
      }
    }
  }
  return values;
}

// Orders numbers by value, before any text.
bool NumbersFirst(const std::string& a, const std::string& b) {
  double x = 0, y = 0;
  const bool nx = absl::SimpleAtod(a, &x), ny = absl::SimpleAtod(b, &y);
  if (nx && ny) return x < y;
  return nx && !ny;
}

// Values listed per pooled field, so one answer stays small.
constexpr size_t kMaxListed = 100;

// The rows a table gets when the request names none: the first sweep's
// first model-scale axis (model.dim for ViT and LM sweeps), else
// model.width.
std::string DefaultRowAxis(storage::Store& store, const std::string& sweep_id) {
  absl::StatusOr<std::string> stored = store.GetSweepSpec(sweep_id);
  v1::SweepSpec spec;
  if (stored.ok() && spec.ParseFromString(*stored)) {
    for (const v1::Axis& axis : spec.axes()) {
      if (absl::StartsWith(axis.path(), "model.")) return axis.path();
    }
  }
  return "model.width";
}

}  // namespace

absl::Status QueryTable(storage::Store& store,
                        const v1::QueryTableRequest& request,
                        v1::Table* table) {
  if (request.sweep_ids().empty()) {
    return absl::InvalidArgumentError("sweep_ids: name at least one sweep");
  }
  if (request.sweep_ids_size() > kMaxTableSweeps) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep_ids: ", request.sweep_ids_size(),
                     " sweeps; at most ", kMaxTableSweeps, " in one table"));
  }
  if (request.where_size() > kMaxTableFilters) {
    return absl::InvalidArgumentError(
        absl::StrCat("where: ", request.where_size(), " filters; at most ",
                     kMaxTableFilters));
  }
  {
    std::set<std::string> distinct(request.sweep_ids().begin(),
                                   request.sweep_ids().end());
    if (distinct.size() != static_cast<size_t>(request.sweep_ids_size())) {
      return absl::InvalidArgumentError(
          "sweep_ids: a sweep is named twice; name each once");
    }
  }
  table->set_metric(request.metric().empty() ? "forgetting" : request.metric());
  table->set_row_axis(request.row_axis().empty()
                          ? DefaultRowAxis(store, request.sweep_ids(0))
                          : request.row_axis());
  table->set_col_axis(request.col_axis().empty() ? "pretrain.examples"
                                                 : request.col_axis());
  if (table->row_axis() == table->col_axis()) {
    return absl::InvalidArgumentError(
        absl::StrCat("col_axis: '", table->col_axis(),
                     "' is also the row axis; pick two different fields"));
  }
  std::vector<TableSample> values;
  std::vector<std::string> ids;
  std::vector<SweepFields> fields;
  // The same experiment (spec key, seed included) counts once, however many
  // of the sweeps ran it or were served it from the cache.
  std::unordered_set<std::string> seen_keys;
  const bool several = request.sweep_ids_size() > 1;
  int duplicates = 0;
  int64_t unfiltered = 0;  // samples before --where, for its error
  std::vector<SweepFields> unfiltered_fields;
  for (const std::string& id : request.sweep_ids()) {
    absl::StatusOr<std::string> stored = store.GetSweepSpec(id);
    if (!stored.ok()) return stored.status();
    ids.push_back(id);
    v1::SweepSpec spec;
    spec.ParseFromString(*stored);
    // A field the sweep does not vary has its base value in every job.
    const v1::ExperimentSpec base = ResolveDefaults(spec.base());
    SweepFields sweep;
    sweep.base = FlattenFields(base);
    sweep.axes.insert("seed");
    for (const v1::Axis& axis : spec.axes()) sweep.axes.insert(axis.path());
    double fixed[2] = {0, 0};
    const std::string* names[2] = {&table->row_axis(), &table->col_axis()};
    const char* field_names[2] = {"row_axis", "col_axis"};
    for (int a = 0; a < 2; ++a) {
      absl::StatusOr<double> value = GetNumericField(base, *names[a]);
      if (!value.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field_names[a], ": ", value.status().message()));
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
      if (sweep.axes.count(filter.path())) {
        axis_filters.emplace_back(filter.path(), filter.value());
      } else if (*value != filter.value()) {
        excluded = true;  // the whole sweep has another value
      }
    }
    if (!excluded) {
      absl::StatusOr<storage::SampleSet> samples =
          store.MetricSamples({id}, table->metric(), table->row_axis(),
                              table->col_axis(), axis_filters);
      if (!samples.ok()) return samples.status();
      // Consecutive samples mostly share their other axes: skip the set
      // lookup for a repeat.
      const std::string* previous = nullptr;
      for (const storage::MetricSample& s : **samples) {
        if (several && !seen_keys.insert(s.spec_key).second) {
          ++duplicates;
          continue;
        }
        values.push_back({s.row.value_or(fixed[0]), s.col.value_or(fixed[1]),
                          s.value, s.parameter_count});
        if (previous == nullptr || *previous != s.other_axes) {
          sweep.other_axes.insert(s.other_axes);
          previous = &s.other_axes;
        }
      }
    }
    if (request.where_size() > 0 && values.empty()) {
      // Kept for the error when the filters leave nothing: which values the
      // filtered fields do take.
      absl::StatusOr<storage::SampleSet> all = store.MetricSamples(
          {id}, table->metric(), table->row_axis(), table->col_axis());
      if (!all.ok()) return all.status();
      unfiltered += static_cast<int64_t>((*all)->size());
      SweepFields seen{sweep.base, sweep.axes, {}};
      for (const storage::MetricSample& s : **all) {
        std::string coordinates = s.other_axes;
        for (int a = 0; a < 2; ++a) {
          const std::optional<double>& v = a == 0 ? s.row : s.col;
          if (v.has_value()) {
            absl::StrAppend(&coordinates, ";", *names[a], "=", *v);
          }
        }
        seen.other_axes.insert(std::move(coordinates));
      }
      unfiltered_fields.push_back(std::move(seen));
    }
    fields.push_back(std::move(sweep));
  }
  if (values.empty()) {
    // No values: nothing finished yet, the filters exclude everything, or
    // the metric is misspelt.
    absl::StatusOr<std::vector<std::string>> names = store.MetricNames(ids);
    if (!names.ok()) return names.status();
    if (!names->empty() && std::find(names->begin(), names->end(),
                                     table->metric()) == names->end()) {
      std::vector<std::string> shown(
          names->begin(), names->begin() + std::min(names->size(), size_t{20}));
      return absl::InvalidArgumentError(absl::StrCat(
          "metric: no stored metric '", table->metric().substr(0, 64),
          "'; these sweeps have: ", absl::StrJoin(shown, ", "),
          names->size() > shown.size()
              ? absl::StrCat(" and ", names->size() - shown.size(), " more")
              : ""));
    }
    if (request.where_size() > 0 && unfiltered > 0) {
      const auto taken = DistinctValues(unfiltered_fields);
      std::vector<std::string> filters, known;
      for (const v1::AxisFilter& filter : request.where()) {
        filters.push_back(
            absl::StrCat(filter.path(), "=", FieldText(filter.value())));
        auto it = taken.find(filter.path());
        if (it != taken.end()) {
          known.push_back(absl::StrCat(filter.path(), " in {",
                                       absl::StrJoin(it->second, ", "), "}"));
        }
      }
      return absl::NotFoundError(absl::StrCat(
          "where: no result matches ", absl::StrJoin(filters, " and "), " (",
          unfiltered, " results without the filter",
          known.empty() ? "" : "; they have ", absl::StrJoin(known, ", "),
          ")"));
    }
  }
  table->set_duplicates_dropped(duplicates);
  std::set<std::string> fixed_paths = {"seed", table->row_axis(),
                                       table->col_axis()};
  for (const v1::AxisFilter& filter : request.where()) {
    fixed_paths.insert(filter.path());
  }
  for (const auto& [path, distinct] : DistinctValues(fields)) {
    if (distinct.size() < 2 || fixed_paths.count(path)) continue;
    v1::PooledAxis* pooled = table->add_pooled_over();
    pooled->set_path(path);
    std::vector<std::string> sorted(distinct.begin(), distinct.end());
    std::stable_sort(sorted.begin(), sorted.end(), NumbersFirst);
    pooled->set_distinct(static_cast<int>(sorted.size()));
    for (size_t i = 0; i < sorted.size() && i < kMaxListed; ++i) {
      pooled->add_values(sorted[i]);
    }
  }
  AggregateTable(values, table);
  return absl::OkStatus();
}

}  // namespace forgetlab
