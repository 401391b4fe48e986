// Paired comparisons of one axis's two values.
#include "client/compare.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "proto/net/json_writer.h"

namespace forgetlab {

absl::StatusOr<Comparison> ComparePairs(
    const std::vector<v1::JobResultEntry>& results, const std::string& metric,
    const std::string& axis, double a, double b) {
  Comparison out;
  out.metric = metric;
  out.axis = axis;
  out.a = a;
  out.b = b;
  std::set<std::string> axes, metrics;
  std::set<double> values;
  // Everything but `axis`, as "path=value;..." in path order: the pair key.
  std::map<std::string, double> at_a, at_b;
  for (const v1::JobResultEntry& entry : results) {
    for (const auto& [path, value] : entry.axis_values()) axes.insert(path);
    for (const auto& [name, value] : entry.result().metrics()) {
      metrics.insert(name);
    }
    auto it = entry.axis_values().find(axis);
    if (it == entry.axis_values().end()) continue;
    values.insert(it->second);
    if (it->second != a && it->second != b) continue;
    auto m = entry.result().metrics().find(metric);
    if (m == entry.result().metrics().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", entry.job_id(), " has no metric '", metric,
                       "'; the results have: ", absl::StrJoin(metrics, ", ")));
    }
    std::map<std::string, double> others(entry.axis_values().begin(),
                                         entry.axis_values().end());
    others.erase(axis);
    std::vector<std::string> key;
    for (const auto& [path, value] : others) {
      key.push_back(absl::StrFormat("%s=%.17g", path, value));
    }
    (it->second == a ? at_a : at_b)[absl::StrJoin(key, ";")] = m->second;
  }
  if (values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no result has the axis '", axis,
                     "'; the axes are: ", absl::StrJoin(axes, ", ")));
  }
  for (double v : {a, b}) {
    if (values.count(v) == 0) {
      std::vector<std::string> shown;
      for (double x : values) shown.push_back(absl::StrFormat("%g", x));
      return absl::InvalidArgumentError(
          absl::StrFormat("%s has no result at %g; its values are: %s", axis, v,
                          absl::StrJoin(shown, ", ")));
    }
  }
  axes.erase(axis);
  out.paired_by.assign(axes.begin(), axes.end());
  std::vector<std::pair<double, double>> pairs;
  for (const auto& [key, value] : at_a) {
    auto partner = at_b.find(key);
    if (partner == at_b.end()) {
      ++out.unpaired_a;
      continue;
    }
    pairs.emplace_back(value, partner->second);
  }
  out.unpaired_b = static_cast<int>(at_b.size() - pairs.size());
  absl::StatusOr<stats::PairedDifference> d = stats::ComparePaired(pairs);
  if (!d.ok()) return d.status();
  out.difference = *d;
  return out;
}

std::string ComparisonText(const Comparison& c) {
  const stats::PairedDifference& d = c.difference;
  std::string out = absl::StrFormat(
      "%s: %s = %g against %s = %g, paired by %s (%d pairs)\n", c.metric,
      c.axis, c.b, c.axis, c.a, absl::StrJoin(c.paired_by, ", "), d.pairs);
  absl::StrAppend(
      &out,
      absl::StrFormat("  mean at %g: %.4g   at %g: %.4g\n", c.a, d.mean_a, c.b,
                      d.mean_b),
      absl::StrFormat(
          "  difference (b - a): %+.4g   95%% CI [%.4g, %.4g]   effect size "
          "d_z = %.3g\n",
          d.mean, d.ci_low, d.ci_high, d.effect_size),
      c.Resolved()
          ? absl::StrFormat("  resolved: %s is %s at %s = %g\n", c.metric,
                            d.mean > 0 ? "higher" : "lower", c.axis, c.b)
          : std::string(d.pairs > 1 ? "  not resolved: the CI holds 0\n"
                                    : "  not resolved: one pair\n"));
  if (c.unpaired_a + c.unpaired_b > 0) {
    absl::StrAppend(&out, "  without a partner: ", c.unpaired_a, " at a, ",
                    c.unpaired_b, " at b\n");
  }
  return out;
}

std::string ComparisonJson(const Comparison& c) {
  const stats::PairedDifference& d = c.difference;
  std::vector<std::string> by;
  for (const std::string& p : c.paired_by) by.push_back(JsonString(p));
  return absl::StrCat(
      "{\"metric\": ", JsonString(c.metric), ", \"axis\": ", JsonString(c.axis),
      ", \"a\": ", JsonNumber(c.a), ", \"b\": ", JsonNumber(c.b),
      ", \"paired_by\": [", absl::StrJoin(by, ", "), "], \"pairs\": ", d.pairs,
      ", \"unpaired_a\": ", c.unpaired_a, ", \"unpaired_b\": ", c.unpaired_b,
      ", \"mean_a\": ", JsonNumber(d.mean_a),
      ", \"mean_b\": ", JsonNumber(d.mean_b),
      ", \"mean_difference\": ", JsonNumber(d.mean),
      ", \"sd_difference\": ", JsonNumber(d.sd), ", \"ci95\": [",
      JsonNumber(d.ci_low), ", ", JsonNumber(d.ci_high),
      "], \"effect_size_dz\": ", JsonNumber(d.effect_size),
      ", \"resolved\": ", c.Resolved() ? "true" : "false", "}\n");
}

}  // namespace forgetlab
