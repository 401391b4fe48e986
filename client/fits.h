// `forgetlab fit`: scaling laws fitted to a table's cells, one per group of
// the --by axis, plus the joint law over both axes, with seed-bootstrap
// intervals (proto/stats/trend.h), and their text and JSON forms.
#ifndef FORGETLAB_CLIENT_FITS_H_
#define FORGETLAB_CLIENT_FITS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "forgetlab/v1/forgetlab.pb.h"
#include "proto/stats/trend.h"

namespace forgetlab {

inline constexpr char kParameterCount[] = "parameter_count";

// How to read a table: which of its axes is x.
struct FitLayout {
  // "parameter_count" (x is each row's parameter count) or an axis path.
  std::string x = kParameterCount;
  // x is the table's column axis and the groups are its rows (used for
  // --x=pretrain.examples, whose groups are the model sizes).
  bool x_on_cols = false;
  stats::BootstrapOptions bootstrap;
};

struct GroupFit {
  double value = 0;             // the --by value
  int64_t parameter_count = 0;  // when the groups are model sizes
  std::optional<stats::Trend> trend;
  std::string skipped;  // why there is no trend
};

struct FitReport {
  std::string metric;
  std::string x;
  std::string by;
  std::vector<v1::PooledAxis> pooled_over;
  int duplicates_dropped = 0;
  stats::BootstrapOptions bootstrap;
  std::vector<GroupFit> groups;
  // m = c + a * x^alpha * y^beta, y being the --by value (or the parameter
  // count when the groups are model sizes).
  std::string y;
  std::optional<stats::Trend> joint;
  std::string joint_skipped;
  // Cells no law could use, and why: "pretrain.examples = 0: x must be > 0".
  std::vector<std::string> left_out;
};

// INVALID_ARGUMENT when x is the parameter count but a row pools models of
// different sizes (the message names the fix).
absl::StatusOr<FitReport> FitTable(const v1::Table& table,
                                   const FitLayout& layout);

std::string FitText(const FitReport& report);

// {"metric": str, "x": str, "by": str, "y": str,
//  "bootstrap": {"resamples": int, "seed": int},
//  "pooled_over": [{"path": str, "distinct": int, "values": [str, ...]}],
//  "duplicates_dropped": int, "left_out": [str, ...],
//  "groups": [{"by": number, "parameter_count": int (model groups only),
//    "skipped": str (only when not fitted), "n": int, "cells": int,
//    "law": {"c": x, "a": x, "alpha": x, "alpha_ci95": [lo, hi], "r2": x,
//            "at_bound": bool},
//    "slope_per_decade": {"slope": x, "ci95": [lo, hi]},
//    "trend": "grows" | "falls" | "not resolved",
//    "fitted": [{"x": x, "n": int, "mean": x, "fitted": x}]}],
//  "joint": null | {"n": int, "cells": int, "law": {"c": x, "a": x,
//    "alpha": x, "alpha_ci95": [lo, hi], "beta": x, "beta_ci95": [lo, hi],
//    "r2": x, "at_bound": bool}, "trend": str,
//    "fitted": [{"x": x, "y": x, "n": int, "mean": x, "fitted": x}]},
//  "joint_skipped": str (only when joint is null)}
std::string FitJson(const FitReport& report);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_FITS_H_
