// Forgetting metrics from an accuracy matrix.
#include "worker/train/forgetting_metrics.h"

#include <algorithm>

namespace forgetlab::train {

std::map<std::string, double> ComputeForgettingMetrics(
    const std::vector<std::vector<double>>& r) {
  const size_t k = r.size();
  if (k < 2) return {};
  for (const auto& row : r) {
    if (row.size() != k) return {};
  }
  const std::vector<double>& last = r[k - 1];
  // Forgetting of task j: best accuracy it had at any stage before the last
  // (DESIGN.md: max over l in 1..k-1) minus its final accuracy.
  auto forgetting_of = [&](size_t j) {
    double best = r[0][j];
    for (size_t l = 1; l + 1 < k; ++l) best = std::max(best, r[l][j]);
    return best - last[j];
  };
  double sum_forgetting = 0, sum_bwt = 0, sum_acc = 0;
  for (size_t j = 0; j + 1 < k; ++j) {
    sum_forgetting += forgetting_of(j);
    sum_bwt += last[j] - r[j][j];
  }
  for (double a : last) sum_acc += a;
  std::map<std::string, double> m;
  m["forgetting"] = forgetting_of(0);
  m["avg_forgetting"] = sum_forgetting / static_cast<double>(k - 1);
  m["bwt"] = sum_bwt / static_cast<double>(k - 1);
  m["acc"] = sum_acc / static_cast<double>(k);
  m["rel_forgetting"] = r[0][0] > 0 ? m["forgetting"] / r[0][0] : 0.0;
  // Luo et al. 2023: mean over later stages m of (R0 - Rm) / R0 * 100, with
  // R0 task 1's accuracy right after it was learned.
  double relative = 0;
  for (size_t stage = 1; stage < k; ++stage) {
    relative += r[0][0] > 0 ? (r[0][0] - r[stage][0]) / r[0][0] * 100 : 0.0;
  }
  m["fg_relative"] = relative / static_cast<double>(k - 1);
  return m;
}

}  // namespace forgetlab::train
