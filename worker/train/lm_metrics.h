// The language-model track's metrics beside the accuracy-matrix ones
// (DESIGN.md, "Language-model track"). No LibTorch.
#ifndef FORGETLAB_WORKER_TRAIN_LM_METRICS_H_
#define FORGETLAB_WORKER_TRAIN_LM_METRICS_H_

#include <map>
#include <string>
#include <vector>

namespace forgetlab::train {

// What the pretraining pool's held-out windows measured: after pretraining
// (stage 0) and after each task (stages 1..k).
struct PoolTrace {
  double loss_after_pretraining = 0;        // bits per byte
  double accuracy_after_pretraining = 0;    // next-byte top-1
  std::vector<double> loss_after_task;      // k entries
  std::vector<double> accuracy_after_task;  // k entries
};

// Given L[i][j] = bits per byte on task j after task i (k x k, k >= 2):
//   loss_forgetting        L[k][1] - min over l < k of L[l][1]
// and, when `pool` is given (pretraining ran):
//   pretrain_forgetting    L_pool(end) - L_pool(after pretraining)
//   pretrain_progress_lost that / (8 - L_pool(after pretraining)); 0 when
//                          pretraining left the loss at 8 bits or more
//   fg_general             mean over task stages m of (R0 - Rm) / R0 * 100,
//                          R the pool's next-byte accuracy (0 when R0 = 0)
//   pretrain_loss          L_pool(after pretraining)
//   pretrain_accuracy      R0
// (1-based indices as in DESIGN.md). Empty when L is not square, k >= 2.
std::map<std::string, double> ComputeLmMetrics(
    const std::vector<std::vector<double>>& loss, const PoolTrace* pool);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_LM_METRICS_H_
