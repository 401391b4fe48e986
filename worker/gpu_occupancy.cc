// The hill climb on jobs at once.
#include "worker/gpu_occupancy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace forgetlab {
namespace {

// A window counts when the device held every allowed job at this share of
// the progress reports in it (a job ending and the next starting leave a
// short gap).
constexpr double kFullShare = 0.8;

std::string Tflops(double flops_per_second) {
  return absl::StrFormat("%.3g TFLOP/s", flops_per_second / 1e12);
}

}  // namespace

Occupancy::Occupancy(Options options) : options_(options) {}

bool Occupancy::Enter(const absl::Notification& stop) {
  absl::MutexLock lock(&mu_);
  auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entered_ < limit_;
  };
  while (!room()) {
    mu_.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(100));
    if (stop.HasBeenNotified() && !room()) return false;
  }
  ++entered_;
  return true;
}

void Occupancy::Started() {
  absl::MutexLock lock(&mu_);
  ++training_;
}

void Occupancy::Leave(bool started) {
  absl::MutexLock lock(&mu_);
  --entered_;
  if (started) --training_;
}

bool Occupancy::AddWork(double flops, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (!started_) {
    if (training_ < limit_) return false;
    started_ = true;
    start_ = now;
    return false;
  }
  work_ += flops;
  ++reports_;
  if (training_ >= limit_) ++full_reports_;
  return now - start_ >= options_.window && CloseWindow(now);
}

void Occupancy::Restart() {
  started_ = false;
  work_ = 0;
  reports_ = full_reports_ = 0;
}

bool Occupancy::CloseWindow(absl::Time now) {
  const bool full = reports_ > 0 &&
                    full_reports_ >= kFullShare * static_cast<double>(reports_);
  const double seconds = absl::ToDoubleSeconds(now - start_);
  if (!full || seconds <= 0) {
    Restart();
    return false;
  }
  const double rate = work_ / seconds;
  rates_[limit_] = rate;
  const std::string measured = absl::StrCat(limit_, " at once: ", Tflops(rate));
  const int doubled = std::min(options_.max_jobs, 2 * limit_);
  bool decided = true;
  if (settled_) {
    decided = false;
    if (++settled_windows_ >= options_.settle_windows && doubled > limit_) {
      decided = true;
      decision_ = absl::StrCat(measured, "; trying ", doubled, " again");
      settled_ = false;
      below_ = limit_;
      limit_ = doubled;
    }
  } else if (below_ > 0 && rate < options_.gain * rates_[below_]) {
    decision_ = absl::StrCat(measured, ", not ", options_.gain, "x the ",
                             Tflops(rates_[below_]), " at ", below_,
                             "; settled at ", below_);
    limit_ = below_;
    below_ = 0;
    settled_ = true;
    settled_windows_ = 0;
  } else if (doubled > limit_) {
    decision_ = absl::StrCat(measured, "; trying ", doubled);
    below_ = limit_;
    limit_ = doubled;
  } else {
    decision_ = absl::StrCat(measured, "; settled at the most, ", limit_);
    below_ = 0;
    settled_ = true;
    settled_windows_ = 0;
  }
  Restart();
  return decided;
}

int Occupancy::limit() const {
  absl::MutexLock lock(&mu_);
  return limit_;
}

std::map<int, double> Occupancy::rates() const {
  absl::MutexLock lock(&mu_);
  return rates_;
}

std::string Occupancy::last_decision() const {
  absl::MutexLock lock(&mu_);
  return decision_;
}

}  // namespace forgetlab
