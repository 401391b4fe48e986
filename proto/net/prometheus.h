// Prometheus metrics for the server and the worker: counters, gauges and
// histograms in a registry, rendered in Prometheus' text format (0.0.4), and
// a small HTTP server that serves them at /metrics.
#ifndef FORGETLAB_PROTO_NET_PROMETHEUS_H_
#define FORGETLAB_PROTO_NET_PROMETHEUS_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace forgetlab::metrics {

// Label names and values of one series, in the order given.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(double delta = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

 private:
  friend class Registry;
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // not cumulative
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds for RPC latencies: 0.5 ms to 60 s.
const std::vector<double>& LatencyBuckets();

// Holds every series. Get* returns the series for (name, labels), creating
// it the first time; the pointer stays valid for the registry's life.
// Thread-safe.
class Registry {
 public:
  Counter* GetCounter(const std::string& name, const std::string& help,
                      const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help,
                  const Labels& labels = {});
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const Labels& labels,
                          const std::vector<double>& bounds);
  // Replaces every series of the gauge `name` by one with `labels` and
  // `value` (an "info" series such as the current job), or by none when
  // `labels` is empty.
  void SetInfo(const std::string& name, const std::string& help,
               const Labels& labels, double value = 1);
  // The same with several series (none when `series` is empty).
  void SetInfoSeries(const std::string& name, const std::string& help,
                     const std::vector<std::pair<Labels, double>>& series);

  // Runs before every Render(), to set gauges from elsewhere (a database).
  void AddCollector(std::function<void()> collect);

  // Prometheus text format, families in name order.
  std::string Render();

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    // Keyed by the rendered label text, e.g. {state="QUEUED"}.
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family* FamilyLocked(const std::string& name, const std::string& help,
                       Type type);

  std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<std::function<void()>> collectors_;
};

// Serves GET /metrics (the registry's Render()) over HTTP/1.1 on its own
// thread, up to 64 connections at once without blocking on any of them,
// each closed after its answer. A request larger than 8 KiB, or not
// received and answered within 2 s in all, is dropped; stopping the server
// waits for no client.
class MetricsServer {
 public:
  // `listen`: host:port, [v6]:port or :port (all interfaces); port 0 picks
  // a free one.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen, Registry* registry);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsServer(int fd, int wake_fd, int port, Registry* registry);
  void Loop();
  // The whole HTTP response to a complete request.
  std::string Respond(const std::string& request) const;

  const int fd_;
  const int wake_fd_;  // an eventfd that ends Loop()
  const int port_;
  Registry* const registry_;
  std::thread thread_;
};

// GET http://127.0.0.1:<port><path> with HTTP/1.1: the status line's code
// and the body. A minimal client for tests and scripts, not a general one.
absl::StatusOr<std::pair<int, std::string>> HttpGet(int port,
                                                    const std::string& path);

}  // namespace forgetlab::metrics

#endif  // FORGETLAB_PROTO_NET_PROMETHEUS_H_
