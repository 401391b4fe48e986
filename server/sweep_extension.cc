// Planning a sweep's growth.
#include "server/sweep_extension.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proto/spec/field_path.h"

namespace forgetlab {
namespace {

// The job's value of `path`: its axis value, else its resolved spec's field.
absl::StatusOr<double> JobValue(const ExpandedJob& job,
                                const std::string& path) {
  auto it = job.axis_values.find(path);
  if (it != job.axis_values.end()) return it->second;
  return GetNumericField(job.spec, path);
}

bool InCell(const ExpandedJob& job, const v1::CellFilter& cell) {
  for (const v1::AxisFilter& f : cell.where()) {
    absl::StatusOr<double> v = JobValue(job, f.path());
    if (!v.ok() || *v != f.value()) return false;
  }
  return true;
}

void AddValues(v1::Axis* axis,
               const google::protobuf::RepeatedField<double>& values) {
  for (double v : values) {
    if (std::find(axis->values().begin(), axis->values().end(), v) ==
        axis->values().end()) {
      axis->add_values(v);
    }
  }
}

}  // namespace

absl::StatusOr<ExtensionPlan> PlanExtension(
    const v1::SweepSpec& stored, const v1::ExtendSweepRequest& request,
    int max_jobs) {
  if (request.seeds().empty() && request.add().empty()) {
    return absl::InvalidArgumentError(
        "nothing to add: give seeds or add (e.g. forgetlab extend SWEEP "
        "--seeds=3-9)");
  }
  if (request.seeds_size() > kMaxExtensionSeeds) {
    return absl::InvalidArgumentError(
        absl::StrCat("seeds: ", request.seeds_size(), " seeds; at most ",
                     kMaxExtensionSeeds, " at once"));
  }
  if (request.only_size() > kMaxExtensionCells) {
    return absl::InvalidArgumentError(absl::StrCat(
        "only: ", request.only_size(), " cells; at most ", kMaxExtensionCells));
  }
  for (int i = 0; i < request.only_size(); ++i) {
    if (request.only(i).where_size() > 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("only[", i, "].where: at most 16 filters"));
    }
  }
  if (!request.only().empty() && !request.add().empty()) {
    return absl::InvalidArgumentError(
        "only limits new seeds to some cells; it cannot be combined with add "
        "(extend the axes first, then the seeds)");
  }
  absl::StatusOr<std::vector<ExpandedJob>> before =
      ExpandSweep(stored, max_jobs);
  if (!before.ok()) return before.status();

  ExtensionPlan plan;
  plan.spec = stored;
  v1::SweepSpec& grown = plan.spec;
  if (!request.seeds().empty()) {
    auto seed_axis =
        std::find_if(grown.mutable_axes()->begin(), grown.mutable_axes()->end(),
                     [](const v1::Axis& a) { return a.path() == "seed"; });
    if (seed_axis != grown.mutable_axes()->end()) {
      for (int64_t seed : request.seeds()) {
        google::protobuf::RepeatedField<double> one;
        one.Add(static_cast<double>(seed));
        AddValues(&*seed_axis, one);
      }
    } else {
      if (grown.seeds().empty() && !before->empty()) {
        grown.add_seeds(static_cast<int64_t>(before->front().spec.seed()));
      }
      for (int64_t seed : request.seeds()) {
        if (std::find(grown.seeds().begin(), grown.seeds().end(), seed) ==
            grown.seeds().end()) {
          grown.add_seeds(seed);
        }
      }
    }
  }
  for (int i = 0; i < request.add_size(); ++i) {
    const v1::Axis& add = request.add(i);
    if (add.values().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("add[", i, "] (", add.path(), "): no values"));
    }
    auto axis = std::find_if(
        grown.mutable_axes()->begin(), grown.mutable_axes()->end(),
        [&add](const v1::Axis& a) { return a.path() == add.path(); });
    if (axis != grown.mutable_axes()->end()) {
      AddValues(&*axis, add.values());
      continue;
    }
    // A new axis starts at the value every job of the sweep has.
    double value = 0;
    for (size_t j = 0; j < before->size(); ++j) {
      absl::StatusOr<double> v = GetNumericField((*before)[j].spec, add.path());
      if (!v.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("add[", i, "].path: ", v.status().message()));
      }
      if (j > 0 && *v != value) {
        return absl::InvalidArgumentError(absl::StrCat(
            "add[", i, "] (", add.path(),
            "): the sweep's jobs do not share one value of it (its default "
            "depends on another axis); set it in the sweep's base and "
            "submit a new sweep"));
      }
      value = *v;
    }
    v1::Axis* axis_added = grown.add_axes();
    axis_added->set_path(add.path());
    axis_added->add_values(value);
    AddValues(axis_added, add.values());
    plan.new_axes[add.path()] = value;
  }
  absl::StatusOr<std::vector<ExpandedJob>> after = ExpandSweep(grown, max_jobs);
  if (!after.ok()) return after.status();
  if (request.only().empty()) {
    plan.spec_changed = true;
    plan.jobs = *std::move(after);
    return plan;
  }
  plan.spec = stored;
  for (ExpandedJob& job : *after) {
    if (std::any_of(
            request.only().begin(), request.only().end(),
            [&job](const v1::CellFilter& c) { return InCell(job, c); })) {
      plan.jobs.push_back(std::move(job));
    }
  }
  return plan;
}

}  // namespace forgetlab
