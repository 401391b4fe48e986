// Sweep validation and grid expansion.
#include "proto/spec/grid.h"

#include <cstdint>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "proto/spec/defaults.h"
#include "proto/spec/field_path.h"
#include "proto/spec/spec_key.h"
#include "proto/spec/validate.h"

namespace forgetlab {

absl::StatusOr<std::vector<ExpandedJob>> ExpandSweep(const v1::SweepSpec& sweep,
                                                     int max_jobs) {
  const v1::ExperimentSpec base = ResolveDefaults(sweep.base());
  absl::Status s = ValidateExperiment(base, "base.");
  if (!s.ok()) return s;
  if (sweep.has_max_attempts() &&
      (sweep.max_attempts() < 1 || sweep.max_attempts() > 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be between 1 and 100 (got ",
                     sweep.max_attempts(), ")"));
  }

  if (sweep.axes_size() > kMaxAxes) {
    return absl::InvalidArgumentError(absl::StrCat("axes: ", sweep.axes_size(),
                                                   " axes; at most ", kMaxAxes,
                                                   " are allowed"));
  }
  if (sweep.seeds_size() > kMaxAxisValues) {
    return absl::InvalidArgumentError(
        absl::StrCat("seeds: ", sweep.seeds_size(), " seeds; at most ",
                     kMaxAxisValues, " are allowed"));
  }
  for (int a = 0; a < sweep.axes_size(); ++a) {
    if (sweep.axes(a).path().size() > kMaxFieldPathLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("axes[", a, "].path is longer than ",
                       kMaxFieldPathLength, " characters"));
    }
    if (sweep.axes(a).values_size() > kMaxAxisValues) {
      return absl::InvalidArgumentError(
          absl::StrCat("axes[", a, "] (", sweep.axes(a).path(), ") has ",
                       sweep.axes(a).values_size(), " values; at most ",
                       kMaxAxisValues, " are allowed"));
    }
  }

  // Axes, with seeds as one more (innermost) axis.
  std::vector<v1::Axis> axes(sweep.axes().begin(), sweep.axes().end());
  std::set<std::string> seen;
  for (size_t a = 0; a < axes.size(); ++a) {
    const std::string name = absl::StrCat("axes[", a, "]");
    if (axes[a].path() == "seed" && !sweep.seeds().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " sweeps 'seed' and the sweep also lists seeds; use one"));
    }
    if (axes[a].path() == "model.family") {
      return absl::InvalidArgumentError(absl::StrCat(
          name,
          " sweeps model.family, but each family has its own knobs and "
          "defaults; submit one sweep per family (set base.model.family) and "
          "pool them with `forgetlab table SWEEP_A SWEEP_B`"));
    }
    if (!seen.insert(axes[a].path()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " repeats the axis '", axes[a].path(), "'"));
    }
    if (axes[a].values().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " (", axes[a].path(), ") has no values"));
    }
    std::set<double> distinct(axes[a].values().begin(), axes[a].values().end());
    if (distinct.size() != static_cast<size_t>(axes[a].values_size())) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " (", axes[a].path(), ") lists a value twice"));
    }
    // Each value on its own, so the error names the axis and value.
    for (double value : axes[a].values()) {
      v1::ExperimentSpec probe = base;
      s = SetNumericField(axes[a].path(), value, &probe);
      if (s.ok()) s = ValidateExperiment(probe, "");
      if (!s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, " (", axes[a].path(), ") value ", value, ": ", s.message()));
      }
    }
  }
  if (!sweep.seeds().empty()) {
    std::set<int64_t> distinct(sweep.seeds().begin(), sweep.seeds().end());
    if (distinct.size() != static_cast<size_t>(sweep.seeds_size())) {
      return absl::InvalidArgumentError("seeds lists a seed twice");
    }
    v1::Axis seeds;
    seeds.set_path("seed");
    for (int64_t seed : sweep.seeds()) {
      if (seed < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("seeds: ", seed, " is negative; seeds must be >= 0"));
      }
      seeds.add_values(static_cast<double>(seed));
    }
    axes.push_back(seeds);
  }

  // Each axis has at most kMaxAxisValues values and there are at most
  // kMaxAxes + 1 of them, so the product fits a double exactly enough.
  double product = 1;
  std::vector<std::string> factors;
  for (const v1::Axis& axis : axes) {
    product *= axis.values_size();
    factors.push_back(absl::StrCat(axis.values_size(), " ", axis.path()));
  }
  if (product > max_jobs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "axes: the sweep would expand to ", absl::StrFormat("%.0f", product),
        " jobs (", absl::StrJoin(factors, " x "), "); at most ", max_jobs,
        " jobs are allowed per sweep: split it into smaller sweeps"));
  }
  const int64_t total = static_cast<int64_t>(product);

  std::vector<ExpandedJob> jobs;
  jobs.reserve(static_cast<size_t>(total));
  size_t stored_bytes = 0;  // every job stores its own resolved spec
  std::vector<int> index(axes.size(), 0);
  for (int64_t n = 0; n < total; ++n) {
    ExpandedJob job;
    job.spec = base;
    std::vector<std::string> coordinates;
    for (size_t a = 0; a < axes.size(); ++a) {
      const double value = axes[a].values(index[a]);
      // Validated per value above; combinations are validated below.
      SetNumericField(axes[a].path(), value, &job.spec).IgnoreError();
      job.axis_values[axes[a].path()] = value;
      coordinates.push_back(absl::StrCat(axes[a].path(), "=", value));
    }
    job.axis_values["seed"] = static_cast<double>(job.spec.seed());
    s = ValidateExperiment(job.spec, "");
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "grid cell {", absl::StrJoin(coordinates, ", "), "}: ", s.message()));
    }
    job.canonical = CanonicalSpec(job.spec);
    stored_bytes += job.canonical.size();
    if (stored_bytes > kMaxExpandedBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "base: the sweep's ", total, " resolved jobs would take more than ",
          kMaxExpandedBytes >> 20,
          " MiB (each job stores its own spec); shorten the base's names "
          "and lists, or split the sweep"));
    }
    job.spec_key = SpecKey(job.spec);
    jobs.push_back(std::move(job));
    // Odometer, last axis fastest.
    for (int a = static_cast<int>(axes.size()) - 1; a >= 0; --a) {
      if (++index[static_cast<size_t>(a)] <
          axes[static_cast<size_t>(a)].values_size())
        break;
      index[static_cast<size_t>(a)] = 0;
    }
  }
  return jobs;
}

}  // namespace forgetlab
