// How many jobs a worker runs at once on one GPU (--slots=auto): found by
// measuring, as the jobs run, the training FLOPs per second the device
// delivers at each count.
#ifndef FORGETLAB_WORKER_GPU_OCCUPANCY_H_
#define FORGETLAB_WORKER_GPU_OCCUPANCY_H_

#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace forgetlab {

// A hill climb on the number of jobs at once, from one job up to
// `max_jobs`, doubling: the worker measures the training throughput (the
// FLOPs its jobs report, per second) over a window in which the device held
// as many jobs as allowed, and doubles the count while each doubling beats
// the last by `gain`. When a doubling does not, it goes back to the count
// before and settles there; after `settle_windows` settled windows it tries
// the doubling again (the job mix of a sweep changes as it runs: largest
// first). A window with fewer jobs running than allowed (an empty queue, or
// jobs waiting for device memory) measures nothing.
//
// Thread-safe. Times are passed in, so tests can drive a window.
class Occupancy {
 public:
  struct Options {
    int max_jobs = 16;
    absl::Duration window = absl::Seconds(20);
    double gain = 1.1;
    int settle_windows = 15;
  };

  explicit Occupancy(Options options);

  // Blocks until fewer jobs than limit() are entered, then enters one (it
  // may lease); false once `stop` is notified.
  bool Enter(const absl::Notification& stop);
  // An entered job holds its device memory and trains: only such jobs make
  // a window full.
  void Started();
  // An entered job has ended (`started`: after Started()).
  void Leave(bool started);
  // A running job did `flops` of training by `now`. True when this ended a
  // window that moved or settled the limit (see last_decision()).
  bool AddWork(double flops, absl::Time now);

  // The jobs allowed at once now.
  int limit() const;
  // Measured FLOPs per second by count, the latest window of each.
  std::map<int, double> rates() const;
  // "2 at once: 1.2 TFLOP/s; trying 4" and the like: the last decision, for
  // the log.
  std::string last_decision() const;

 private:
  // Ends the window at `now`: measures it (when full) and moves the limit;
  // true when it decided something.
  bool CloseWindow(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Restart() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  int limit_ ABSL_GUARDED_BY(mu_) = 1;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  int training_ ABSL_GUARDED_BY(mu_) = 0;
  // The count the limit came from while probing (0: none below).
  int below_ ABSL_GUARDED_BY(mu_) = 0;
  bool settled_ ABSL_GUARDED_BY(mu_) = false;
  int settled_windows_ ABSL_GUARDED_BY(mu_) = 0;
  // The window: unstarted until the device holds limit_ jobs.
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time start_ ABSL_GUARDED_BY(mu_);
  double work_ ABSL_GUARDED_BY(mu_) = 0;
  int reports_ ABSL_GUARDED_BY(mu_) = 0;
  int full_reports_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, double> rates_ ABSL_GUARDED_BY(mu_);
  std::string decision_ ABSL_GUARDED_BY(mu_) = "1 job at once to start";
};

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_GPU_OCCUPANCY_H_
