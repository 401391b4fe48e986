// Durable state of the scheduler in SQLite: sweeps, jobs, leases (attempts),
// results with queryable metrics, curves and workers. No gRPC here.
//
// Every method is atomic (one transaction) and thread-safe. The store keeps
// one connection, the only writer, so there is no "database is locked"
// between our own threads; claims use BEGIN IMMEDIATE.
#ifndef FORGETLAB_STORAGE_STORE_H_
#define FORGETLAB_STORAGE_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace SQLite {
class Database;
}

namespace forgetlab::storage {

// Numbered as forgetlab.v1.JobState.
enum class JobState {
  kQueued = 1,
  kLeased = 2,
  kSucceeded = 3,
  kFailed = 4,
  kCancelled = 5,
};
const char* JobStateName(JobState state);  // "QUEUED", ...

struct NewJob {
  std::string spec;      // serialized resolved ExperimentSpec
  std::string spec_key;  // hex content key
  std::map<std::string, double> axis_values;
  std::string dataset;  // a worker must list this dataset to lease the job
};

struct NewSweep {
  std::string name;
  std::string spec;        // serialized SweepSpec as submitted
  std::string request_id;  // "" = not idempotent
  int priority = 0;
  int max_attempts = 3;
  std::string owner;
  std::string device_kind;  // "" any, "cpu", "cuda"
  // Complete jobs whose identical spec already has a result from that
  // result, marked cached (a sweep's `rerun` turns this off).
  bool use_cache = true;
  std::vector<NewJob> jobs;
};

struct SweepRow {
  std::string sweep_id;
  std::string name;
  std::string spec;
  std::string owner;
  int priority = 0;
  int max_attempts = 0;
  int64_t created_ms = 0;
  int total = 0;
  std::array<int, 6> counts{};  // indexed by JobState
  int cached = 0;
  bool done() const {
    return counts[static_cast<int>(JobState::kQueued)] == 0 &&
           counts[static_cast<int>(JobState::kLeased)] == 0;
  }
};

struct JobRow {
  int64_t job_id = 0;
  std::string sweep_id;
  int index = 0;
  std::string spec;
  std::string spec_key;
  JobState state = JobState::kQueued;
  int attempt = 0;
  int max_attempts = 0;
  std::string worker_id;
  std::string error;
  std::string phase;
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t lease_token = 0;
  int64_t deadline_ms = 0;
  bool cancel_requested = false;
  bool cached = false;
  int64_t updated_ms = 0;
  std::string dataset;
  std::string device_kind;
  std::map<std::string, double> axis_values;
};

struct Lease {
  JobRow job;
  int64_t token = 0;
  int64_t deadline_ms = 0;
};

struct CurveSample {
  int stage = 0;
  int step = 0;
  int task = 0;
  double accuracy = 0;
};

struct ResultRecord {
  std::map<std::string, double> metrics;
  std::vector<std::vector<double>> accuracy_matrix;
  std::vector<CurveSample> curves;
  int64_t parameter_count = 0;
  std::string device;
  double total_seconds = 0;
  std::string blob;  // serialized JobResult, returned as stored
};

struct HeartbeatOutcome {
  int64_t deadline_ms = 0;
  bool cancel = false;
};

struct CancelOutcome {
  int cancelled = 0;  // queued jobs now CANCELLED
  int stopping = 0;   // leased jobs told to stop
};

// One stored metric value with the job's coordinates on two axes; an axis
// value is absent when the axis is not one of the job's sweep axes.
struct MetricSample {
  std::string sweep_id;
  std::optional<double> row;
  std::optional<double> col;
  double value = 0;
  int64_t parameter_count = 0;
};

struct WorkerRow {
  std::string worker_id;
  std::string host;
  std::string device;
  int threads = 0;
  int64_t current_job_id = 0;
  int64_t last_seen_ms = 0;
  std::vector<std::string> datasets;
};

class Store {
 public:
  struct Options {
    std::string path;  // database file; created with its folder's permissions
    // Wall clock in Unix milliseconds; injectable for tests.
    std::function<int64_t()> now_ms;
  };

  // Opens (creating if needed) and migrates the database to the current
  // schema. FAILED_PRECONDITION when the file was written by a newer
  // forgetlab; UNAVAILABLE when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<Store>> Open(Options options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Current schema version (PRAGMA user_version).
  static int SchemaVersion();

  // Stores a sweep and queues its jobs. When `request_id` names an existing
  // sweep, returns that sweep's id with *existing = true and stores nothing.
  absl::StatusOr<std::string> CreateSweep(const NewSweep& sweep,
                                          bool* existing);

  // NOT_FOUND for an unknown id.
  absl::StatusOr<SweepRow> GetSweep(const std::string& sweep_id);
  // The sweep's spec as submitted (serialized SweepSpec), without counting
  // its jobs; NOT_FOUND for an unknown id.
  absl::StatusOr<std::string> GetSweepSpec(const std::string& sweep_id);
  // Newest first.
  absl::StatusOr<std::vector<SweepRow>> ListSweeps(int limit);
  // Jobs of a sweep in id order with id > after_job_id; `state` filters when
  // set.
  absl::StatusOr<std::vector<JobRow>> ListJobs(const std::string& sweep_id,
                                               std::optional<JobState> state,
                                               int64_t after_job_id, int limit);
  absl::StatusOr<JobRow> GetJob(int64_t job_id);

  // Claims the next queued job (priority, then FIFO) that `worker_id` can
  // run (its device kind and datasets, as registered; an unregistered id can
  // run anything, and one that declared no datasets any dataset) with a lease
  // of `lease_ms`, expiring overdue leases first. nullopt when nothing suitable
  // is queued.
  absl::StatusOr<std::optional<Lease>> LeaseJob(const std::string& worker_id,
                                                int64_t lease_ms);

  // Extends a lease and records progress. ABORTED when `token` is not the
  // job's current lease (expired and re-leased, or finished).
  absl::StatusOr<HeartbeatOutcome> Heartbeat(int64_t job_id, int64_t token,
                                             const std::string& phase,
                                             int64_t step, int64_t total_steps,
                                             int64_t lease_ms);

  // Stores the result and marks the job SUCCEEDED. Repeating the call with
  // the same token after success is OK and changes nothing; any other stale
  // token is ABORTED.
  absl::Status CompleteJob(int64_t job_id, int64_t token,
                           const ResultRecord& result);

  // Ends an attempt. `release`: the worker is shutting down; the job is
  // queued again without counting the attempt. Otherwise the job FAILED with
  // `error` (CANCELLED when a cancel was requested). ABORTED for a stale
  // token.
  absl::Status FailJob(int64_t job_id, int64_t token, const std::string& error,
                       bool release);

  // Re-queues (or fails, past max_attempts) leased jobs whose deadline has
  // passed. Returns the sweeps that changed.
  absl::StatusOr<std::vector<std::string>> ExpireLeases();

  // Moves every lease deadline to at least `min_deadline_ms`. Called when the
  // server starts, so workers that kept training while it was down keep
  // their jobs if they heartbeat within one lease period.
  absl::Status ExtendLeases(int64_t min_deadline_ms);

  // Earliest deadline among leased jobs, if any.
  absl::StatusOr<std::optional<int64_t>> NextDeadline();

  // Cancels queued jobs now and asks leased ones to stop: every job of the
  // sweep, or only `job_ids` (which must belong to it) when not empty.
  absl::StatusOr<CancelOutcome> CancelSweep(
      const std::string& sweep_id, const std::vector<int64_t>& job_ids);

  // Queues the sweep's FAILED and CANCELLED jobs again with attempt 0 and
  // no error (their attempt history is kept). Returns how many.
  absl::StatusOr<int> RetrySweep(const std::string& sweep_id);

  // The stored result blob of a SUCCEEDED job.
  absl::StatusOr<std::string> GetResultBlob(int64_t job_id);

  // Every stored value of `metric` over SUCCEEDED jobs of the sweeps, with
  // their values on the two axes, in job order. `filters` keeps only jobs
  // whose axis (path) has the value; the path must be an axis of the jobs.
  // Repeated calls are answered from memory until one of the sweeps gets a
  // new result.
  absl::StatusOr<std::vector<MetricSample>> MetricSamples(
      const std::vector<std::string>& sweep_ids, const std::string& metric,
      const std::string& row_axis, const std::string& col_axis,
      const std::vector<std::pair<std::string, double>>& filters = {});

  // How many of these (spec_key, spec) pairs already have a SUCCEEDED job:
  // what CreateSweep would serve from the cache. Reads only.
  absl::StatusOr<int> CountCached(
      const std::vector<std::pair<std::string, std::string>>& keys_and_specs);

  struct ResultRow {
    int64_t job_id = 0;
    std::map<std::string, double> axis_values;
    std::string blob;  // the serialized JobResult
  };
  // Results of SUCCEEDED jobs of a sweep with job_id > after_job_id, in
  // job order.
  absl::StatusOr<std::vector<ResultRow>> ListResults(
      const std::string& sweep_id, int64_t after_job_id, int limit);

  // Names of the metrics stored for SUCCEEDED jobs of the sweeps, sorted.
  absl::StatusOr<std::vector<std::string>> MetricNames(
      const std::vector<std::string>& sweep_ids);

  absl::StatusOr<std::string> RegisterWorker(
      const std::string& host, const std::string& device, int threads,
      const std::vector<std::string>& datasets);
  // Records that a worker called; `current_job_id` 0 means idle. Returns the
  // worker; NOT_FOUND for an unknown id.
  absl::StatusOr<WorkerRow> TouchWorker(const std::string& worker_id,
                                        int64_t current_job_id);
  // Most recently seen first.
  absl::StatusOr<std::vector<WorkerRow>> ListWorkers();

  // Jobs in each state over every sweep (states with none are absent).
  absl::StatusOr<std::map<std::string, int64_t>> CountJobsByState();
  // Leases that ran out since this process opened the store.
  int64_t lease_expiries() const {
    return lease_expiries_.load(std::memory_order_relaxed);
  }

 private:
  explicit Store(Options options, std::unique_ptr<SQLite::Database> db);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  std::vector<std::string> ExpireLocked(int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::StatusOr<JobRow> GetJobLocked(int64_t job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void LoadAxes(std::vector<JobRow>* jobs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // NOT_FOUND unless the sweep exists.
  absl::Status RequireSweepLocked(const std::string& sweep_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Ends a job's lease: the new state (a QUEUED job also loses its worker),
  // its error and attempt count, no deadline.
  void EndLeaseLocked(int64_t job_id, const char* state,
                      const std::string& error, int attempt, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Records how the attempt with this fencing token ended.
  void EndAttemptLocked(int64_t token, int64_t now, const char* outcome,
                        const std::string& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Records a worker's current job (0: idle) and that it was seen now.
  // Returns the number of workers updated (0 for an unknown id).
  int SetWorkerJobLocked(const std::string& worker_id, int64_t job_id,
                         int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Gives `to_job` a copy of `from_job`'s result and marks it cached.
  void CopyResultLocked(int64_t from_job, int64_t to_job, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  int64_t Now() const { return options_.now_ms(); }

  const Options options_;
  absl::Mutex mutex_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mutex_);

  // MetricSamples answers repeated queries from memory. A sweep's set of
  // SUCCEEDED jobs only grows, and only through CompleteJob (CreateSweep's
  // cache copies happen before anyone can query the new sweep), so an entry
  // stays valid while the generations of its sweeps are unchanged.
  struct CachedSamples {
    std::vector<uint64_t> generations;  // one per sweep, as when cached
    std::vector<MetricSample> samples;
  };
  std::map<std::string, CachedSamples> sample_cache_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, uint64_t> sweep_generation_ ABSL_GUARDED_BY(mutex_);
  std::atomic<int64_t> lease_expiries_{0};
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_STORE_H_
