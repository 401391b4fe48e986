// Forgetting metrics computed from an accuracy matrix (DESIGN.md, step 4).
#ifndef FORGETLAB_WORKER_TRAIN_FORGETTING_METRICS_H_
#define FORGETLAB_WORKER_TRAIN_FORGETTING_METRICS_H_

#include <map>
#include <string>
#include <vector>

namespace forgetlab::train {

// Given R[i][j] = accuracy on task j after training task i (k x k, k >= 2),
// returns:
//   forgetting      forgetting of task 1: max_{l<k} R[l][1] - R[k][1]
//   avg_forgetting  mean over j < k of max_{l<k} R[l][j] - R[k][j]
//                   (Chaudhry et al. 2018; the max runs over l in 1..k-1)
//   bwt             mean over j < k of R[k][j] - R[j][j]
//   acc             mean of the last row
//   rel_forgetting  forgetting / R[1][1] (0 when R[1][1] is 0)
//   fg_relative     Luo et al.: mean over m in 2..k of
//                   (R[1][1] - R[m][1]) / R[1][1] * 100, in percent
// An empty map when R is not square with k >= 2.
std::map<std::string, double> ComputeForgettingMetrics(
    const std::vector<std::vector<double>>& r);

}  // namespace forgetlab::train

#endif  // FORGETLAB_WORKER_TRAIN_FORGETTING_METRICS_H_
