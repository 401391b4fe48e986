// Durable state of the scheduler in SQLite: sweeps, jobs, leases (attempts),
// results with queryable metrics, curves and workers. No gRPC here.
//
// Every method is atomic and thread-safe. The store keeps one connection, the
// only writer, so there is no "database is locked" between our own threads.
//
// Writes are group-committed. A thread of the store runs every write queued
// since its last transaction in one BEGIN IMMEDIATE ... COMMIT, each write in
// its own savepoint: a write that fails is rolled back alone, and the others
// are committed. A write's caller hears of it only after its transaction
// commits (or fails), so an OK write is in the database's WAL, exactly as if
// it had committed alone. Under load this writes the pages that concurrent
// calls share (indexes, the worker table, the tail of the attempts table)
// once per batch instead of once per call. Each write method has a blocking
// form and, where the scheduler's hot path needs it, a form that returns at
// once and calls `done` on the store's answering thread after the commit.
// `done` should not block for long, as later answers wait for it; it may
// call the store.
#ifndef FORGETLAB_STORAGE_STORE_H_
#define FORGETLAB_STORAGE_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

struct sqlite3;

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

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
    // WAL sizes, in pages: a background checkpoint starts once this many
    // are not yet copied back (SQLite's own interval)...
    int checkpoint_frames = 1000;
    // ...and the writer completes one itself at this size (64 MiB of 4 KiB
    // pages), so that the WAL starts over from its beginning.
    int restart_frames = 16000;
    // Run by the writer thread before each batch; lets tests queue writes.
    std::function<void()> before_batch;
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

  // A worker's lease call: TouchWorker(worker_id, 0) and then LeaseJob in one
  // write. NOT_FOUND for an unknown worker id.
  struct LeaseAttempt {
    WorkerRow worker;  // as registered
    std::optional<Lease> lease;
  };
  void TouchAndLease(const std::string& worker_id, int64_t lease_ms,
                     std::function<void(absl::StatusOr<LeaseAttempt>)> done);

  // Extends a lease and records progress. ABORTED when `token` is not the
  // job's current lease (expired and re-leased, or finished).
  absl::StatusOr<HeartbeatOutcome> Heartbeat(int64_t job_id, int64_t token,
                                             const std::string& phase,
                                             int64_t step, int64_t total_steps,
                                             int64_t lease_ms);
  void Heartbeat(int64_t job_id, int64_t token, std::string phase, int64_t step,
                 int64_t total_steps, int64_t lease_ms,
                 std::function<void(absl::StatusOr<HeartbeatOutcome>)> done);

  // Stores the result and marks the job SUCCEEDED. Repeating the call with
  // the same token after success is OK and changes nothing; any other stale
  // token is ABORTED. `check`, when given, sees the leased job (without its
  // axis values) after the token check; an error from it stores nothing and
  // is returned.
  using ResultCheck = std::function<absl::Status(const JobRow& job)>;
  absl::Status CompleteJob(int64_t job_id, int64_t token,
                           const ResultRecord& result,
                           const ResultCheck& check = nullptr);
  void CompleteJob(int64_t job_id, int64_t token, ResultRecord result,
                   ResultCheck check, std::function<void(absl::Status)> done);

  // Ends an attempt. `release`: the worker is shutting down; the job is
  // queued again without counting the attempt. Otherwise the job FAILED with
  // `error` (CANCELLED when a cancel was requested). ABORTED for a stale
  // token.
  absl::Status FailJob(int64_t job_id, int64_t token, const std::string& error,
                       bool release);
  void FailJob(int64_t job_id, int64_t token, std::string error, bool release,
               std::function<void(absl::Status)> done);

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
  // Write transactions committed and writes in them since the store opened:
  // their ratio is the mean batch size.
  int64_t write_batches() const {
    return write_batches_.load(std::memory_order_relaxed);
  }
  int64_t writes() const { return writes_.load(std::memory_order_relaxed); }

 private:
  // One queued write. `run` does it inside the batch's transaction and
  // returns its own outcome; `finish` gets, after the commit, OK or why the
  // write did not land (its own error, or the transaction's).
  struct PendingWrite {
    std::function<absl::Status()> run;
    std::function<void(const absl::Status&)> finish;
  };

  explicit Store(Options options, std::unique_ptr<SQLite::Database> db);
  // A committed batch and each write's outcome, for AnswerLoop.
  struct Answers {
    std::vector<PendingWrite> writes;
    std::vector<absl::Status> statuses;
  };
  // Queues a write for the next batch. On the answering thread (from a
  // `done`) it runs the write at once, alone: a blocking write there would
  // wait for an answer that only that thread can give.
  void Enqueue(PendingWrite write) ABSL_LOCKS_EXCLUDED(mutex_, queue_mu_);
  // Queues `body` (run with mutex_ held, inside a transaction) and calls
  // `done` with its result once the transaction has committed. R is
  // absl::Status or absl::StatusOr<T>.
  template <typename R>
  void Submit(std::function<R()> body, std::function<void(R)> done);
  // Submit, then wait for the commit.
  template <typename R>
  R Write(std::function<R()> body);
  // Runs the queued writes, batch after batch, and hands each batch to
  // AnswerLoop.
  void CommitLoop();
  // Calls each write's `finish` (the callers' `done`) in commit order.
  void AnswerLoop();
  // SQLite's WAL hook on the main connection, after each commit: wakes the
  // checkpointer, or finishes a checkpoint so that the WAL restarts.
  static int OnWalCommit(void* store, sqlite3* db, const char* name,
                         int frames);
  // Checkpoints on checkpoint_db_ when woken, concurrently with writes.
  void CheckpointLoop();
  // Runs the writes in one transaction; statuses[i] is write i's outcome.
  void RunBatch(std::vector<PendingWrite>* batch,
                std::vector<absl::Status>* statuses)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // `worker`, when known, is the worker's row (saves reading it again).
  absl::StatusOr<std::optional<Lease>> LeaseJobLocked(
      const std::string& worker_id, int64_t lease_ms,
      const WorkerRow* worker = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The registered worker's row; NOT_FOUND for an unknown id.
  absl::StatusOr<WorkerRow> ReadWorkerLocked(const std::string& worker_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::StatusOr<WorkerRow> TouchWorkerLocked(const std::string& worker_id,
                                              int64_t current_job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::StatusOr<HeartbeatOutcome> HeartbeatLocked(
      int64_t job_id, int64_t token, const std::string& phase, int64_t step,
      int64_t total_steps, int64_t lease_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status CompleteJobLocked(int64_t job_id, int64_t token,
                                 const ResultRecord& result,
                                 const ResultCheck& check)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status FailJobLocked(int64_t job_id, int64_t token,
                             const std::string& error, bool release)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The job's row without its axis values, for the write paths.
  absl::StatusOr<JobRow> ReadJobLocked(int64_t job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The connection's prepared statement for `sql`, made on first use; reset
  // when the returned holder goes out of scope. Not for a statement that is
  // still in use further up the stack.
  class CachedStatement;
  CachedStatement Prepared(const std::string& sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
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
  // No lease ends before this (Unix ms): a lower bound, since heartbeats
  // and ExtendLeases only move deadlines later. ExpireLocked sets it; 0
  // (unknown) makes the next lease scan.
  int64_t earliest_deadline_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<std::string, std::unique_ptr<SQLite::Statement>> statements_
      ABSL_GUARDED_BY(mutex_);

  absl::Mutex queue_mu_;
  std::vector<PendingWrite> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::atomic<int64_t> write_batches_{0};
  std::atomic<int64_t> writes_{0};
  std::thread committer_;  // runs CommitLoop

  absl::Mutex answer_mu_;
  std::deque<Answers> answers_ ABSL_GUARDED_BY(answer_mu_);
  bool answers_done_ ABSL_GUARDED_BY(answer_mu_) = false;
  std::thread answerer_;  // runs AnswerLoop

  std::unique_ptr<SQLite::Database> checkpoint_db_;  // CheckpointLoop's own
  absl::Mutex checkpoint_mu_;
  bool checkpoint_wanted_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool checkpoint_stop_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool checkpointer_busy_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  // The WAL is past options_.restart_frames; the writer finishes the
  // checkpoint (OnWalCommit), and the checkpointer waits.
  bool restart_pending_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  int wal_frames_ ABSL_GUARDED_BY(checkpoint_mu_) = 0;  // after the last commit
  // WAL frames the last background checkpoint found copied.
  int checkpointed_frames_ ABSL_GUARDED_BY(checkpoint_mu_) = 0;
  std::thread checkpointer_;  // runs CheckpointLoop
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_STORE_H_
