// The ETA of `forgetlab watch`: jobs weighted by their estimated cost, so a
// sweep whose big models come last is not promised an early finish.
#ifndef FORGETLAB_CLIENT_ETA_H_
#define FORGETLAB_CLIENT_ETA_H_

#include <cstdint>
#include <map>

namespace forgetlab {

class CostWeightedEta {
 public:
  // A job's estimated cost (any unit, e.g. 6 x parameters x samples) and
  // whether it has finished already.
  void AddJob(int64_t job_id, double cost, bool finished);
  // Marks the job finished (or, with false, running again after a retry).
  void SetFinished(int64_t job_id, bool finished);
  // Starts the clock: the cost finished from here on measures the speed.
  void Start();
  // Seconds left at `elapsed_seconds` after Start(): the remaining cost at
  // the speed seen so far; -1 while nothing has finished since Start().
  double Eta(double elapsed_seconds) const;
  double remaining_cost() const { return remaining_; }

 private:
  struct Job {
    double cost = 0;
    bool finished = false;
  };
  std::map<int64_t, Job> jobs_;
  double remaining_ = 0;
  double remaining_at_start_ = 0;
};

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_ETA_H_
