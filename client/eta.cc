// Cost-weighted ETA.
#include "client/eta.h"

namespace forgetlab {

void CostWeightedEta::AddJob(int64_t job_id, double cost, bool finished) {
  Job& job = jobs_[job_id];
  if (!job.finished) remaining_ -= job.cost;  // replacing an earlier entry
  job = Job{cost, finished};
  if (!finished) remaining_ += cost;
}

void CostWeightedEta::SetFinished(int64_t job_id, bool finished) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.finished == finished) return;
  it->second.finished = finished;
  remaining_ += finished ? -it->second.cost : it->second.cost;
}

void CostWeightedEta::Start() { remaining_at_start_ = remaining_; }

double CostWeightedEta::Eta(double elapsed_seconds) const {
  const double done = remaining_at_start_ - remaining_;
  if (!(done > 0)) return -1;
  return elapsed_seconds / done * remaining_;
}

}  // namespace forgetlab
