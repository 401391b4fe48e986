// Loss forgetting and forgetting of pretraining.
#include "worker/train/lm_metrics.h"

#include <algorithm>

namespace forgetlab::train {

std::map<std::string, double> ComputeLmMetrics(
    const std::vector<std::vector<double>>& loss, const PoolTrace* pool) {
  std::map<std::string, double> metrics;
  const size_t k = loss.size();
  if (k < 2) return metrics;
  for (const auto& row : loss) {
    if (row.size() != k) return metrics;
  }
  double best = loss[0][0];
  for (size_t l = 1; l + 1 < k; ++l) best = std::min(best, loss[l][0]);
  metrics["loss_forgetting"] = loss[k - 1][0] - best;
  if (pool == nullptr || pool->loss_after_task.size() != k ||
      pool->accuracy_after_task.size() != k) {
    return metrics;
  }
  const double l0 = pool->loss_after_pretraining;
  const double forgetting = pool->loss_after_task.back() - l0;
  metrics["pretrain_forgetting"] = forgetting;
  metrics["pretrain_progress_lost"] = l0 < 8.0 ? forgetting / (8.0 - l0) : 0.0;
  const double r0 = pool->accuracy_after_pretraining;
  double fg = 0;
  if (r0 > 0) {
    for (double rm : pool->accuracy_after_task) fg += (r0 - rm) / r0 * 100.0;
    fg /= static_cast<double>(k);
  }
  metrics["fg_general"] = fg;
  metrics["pretrain_loss"] = l0;
  metrics["pretrain_accuracy"] = r0;
  return metrics;
}

}  // namespace forgetlab::train
