// The scheduler's Prometheus series beside the RPC metrics: jobs by state,
// active leases, lease expiries, workers alive, open long polls (read at
// scrape time), and results stored, in all and per second.
#ifndef FORGETLAB_SERVER_SERVER_METRICS_H_
#define FORGETLAB_SERVER_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/net/prometheus.h"
#include "storage/store.h"

namespace forgetlab {

class LeaseDispatcher;

class ServerMetrics {
 public:
  // Registers the series in `registry`; the scrape-time ones read `store`
  // and `dispatcher` when /metrics is rendered. A worker is alive when it
  // called within `lease_ms`.
  ServerMetrics(metrics::Registry* registry, storage::Store* store,
                const LeaseDispatcher* dispatcher, int64_t lease_ms,
                std::function<int64_t()> now_ms);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Counts a stored result (forgetlab_results_total and the per-second
  // rate). Thread-safe.
  void RecordResult() ABSL_LOCKS_EXCLUDED(rate_mu_);

 private:
  // Results over the last minute, for forgetlab_results_per_second.
  double ResultsPerSecond() ABSL_LOCKS_EXCLUDED(rate_mu_);

  const std::function<int64_t()> now_ms_;
  metrics::Counter* results_total_;
  absl::Mutex rate_mu_;
  // Results per whole second over the last minute: (second, count) slots.
  std::array<std::pair<int64_t, int64_t>, 60> results_per_second_
      ABSL_GUARDED_BY(rate_mu_) = {};
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_SERVER_METRICS_H_
