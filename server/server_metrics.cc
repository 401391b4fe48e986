// The scheduler's scrape-time series and result counters.
#include "server/server_metrics.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "server/lease_dispatcher.h"

namespace forgetlab {

ServerMetrics::ServerMetrics(metrics::Registry* registry, storage::Store* store,
                             const LeaseDispatcher* dispatcher,
                             int64_t lease_ms, std::function<int64_t()> now_ms)
    : now_ms_(std::move(now_ms)) {
  results_total_ = registry->GetCounter(
      "forgetlab_results_total", "Results stored since the server started.");
  static constexpr const char* kStates[] = {"QUEUED", "LEASED",    "SUCCEEDED",
                                            "FAILED", "CANCELLED", "WAITING"};
  std::map<std::string, metrics::Gauge*> by_state;
  for (const char* state : kStates) {
    by_state[state] =
        registry->GetGauge("forgetlab_jobs",
                           "Jobs in each state, over every sweep (the queue "
                           "depth is state=\"QUEUED\").",
                           {{"state", state}});
  }
  metrics::Gauge* leases = registry->GetGauge(
      "forgetlab_leases_active", "Jobs leased to a worker right now.");
  metrics::Counter* expiries = registry->GetCounter(
      "forgetlab_lease_expiries_total",
      "Leases that ran out (worker silent for a lease period) since the "
      "server started.");
  metrics::Gauge* alive =
      registry->GetGauge("forgetlab_workers_alive",
                         "Workers heard from within the last lease period.");
  metrics::Gauge* polls = registry->GetGauge(
      "forgetlab_long_polls_open", "LeaseJob long polls waiting for work.");
  metrics::Gauge* rate = registry->GetGauge(
      "forgetlab_results_per_second",
      "Results stored per second, averaged over the last minute.");
  // Read from the database and the dispatcher at scrape time, on the
  // metrics server's thread.
  registry->AddCollector([=]() mutable {
    absl::StatusOr<std::map<std::string, int64_t>> counts =
        store->CountJobsByState();
    if (counts.ok()) {
      for (auto& [state, gauge] : by_state) {
        const auto it = counts->find(state);
        gauge->Set(it == counts->end() ? 0 : static_cast<double>(it->second));
      }
      leases->Set(by_state["LEASED"]->Value());
    }
    expiries->Add(static_cast<double>(store->lease_expiries()) -
                  expiries->Value());
    absl::StatusOr<std::vector<storage::WorkerRow>> workers =
        store->ListWorkers();
    if (workers.ok()) {
      const int64_t now = now_ms_();
      alive->Set(static_cast<double>(std::count_if(
          workers->begin(), workers->end(), [&](const storage::WorkerRow& w) {
            return now - w.last_seen_ms <= lease_ms;
          })));
    }
    polls->Set(dispatcher->open_polls());
    rate->Set(ResultsPerSecond());
  });
}

void ServerMetrics::RecordResult() {
  results_total_->Add();
  const int64_t second = now_ms_() / 1000;
  absl::MutexLock lock(&rate_mu_);
  auto& slot = results_per_second_[static_cast<size_t>(second % 60)];
  if (slot.first != second) slot = {second, 0};
  ++slot.second;
}

double ServerMetrics::ResultsPerSecond() {
  const int64_t second = now_ms_() / 1000;
  int64_t results = 0;
  absl::MutexLock lock(&rate_mu_);
  for (const auto& [when, count] : results_per_second_) {
    if (when > second - 60 && when <= second) results += count;
  }
  return static_cast<double>(results) / 60.0;
}

}  // namespace forgetlab
