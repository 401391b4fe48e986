// Durable state of the scheduler in SQLite: sweeps, jobs, leases (attempts),
// results with queryable metrics, curves and workers. No gRPC here.
//
// Every method is atomic and thread-safe. The store keeps one connection, the
// only writer, so there is no "database is locked" between our own threads.
// Each table has its own class (sweep_table.h, lease_table.h,
// result_table.h, worker_table.h); this class holds the connection's lock
// around them.
//
// Writes are group-committed (group_commit.h): a write's caller hears of it
// only after its transaction commits, so an OK write is in the database's
// WAL. Each write has one form: blocking, or, where the scheduler's hot path
// needs it (leases, heartbeats, results, failures), one that returns at once
// and calls `done` on the store's answering thread after the commit. `done`
// should not block for long, as later answers wait for it; it may call the
// store.
#ifndef FORGETLAB_STORAGE_STORE_H_
#define FORGETLAB_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/records.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace forgetlab::storage {

class GroupCommitQueue;
class LeaseTable;
class ArtifactTable;
class ResultTable;
class StatementCache;
class SweepTable;
class WalCheckpointer;
class WorkerTable;

class Store {
 public:
  struct Options {
    std::string path;  // database file; it, -wal and -shm are kept 0600
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
    // SQLite's synchronous setting: NORMAL (the default) survives any crash
    // of the process, and only a power loss or OS crash can drop the last
    // acknowledged commits; FULL syncs every commit and loses nothing
    // acknowledged, at the cost measured in docs/SECURITY.md.
    bool synchronous_full = false;
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

  // Grows a sweep: SweepTable::Extend in one write transaction.
  absl::StatusOr<Extension> ExtendSweep(
      const std::string& sweep_id, const NewSweep& growth,
      const std::map<std::string, double>& new_axes, bool dry_run);

  // NOT_FOUND for an unknown id.
  absl::StatusOr<SweepRow> GetSweep(const std::string& sweep_id);
  // The sweep's spec as submitted (serialized SweepSpec), without counting
  // its jobs; NOT_FOUND for an unknown id.
  absl::StatusOr<std::string> GetSweepSpec(const std::string& sweep_id);
  // Newest first.
  // `page_token` "" starts at the newest; *next_page_token gets the token
  // of the page after ("" on the last). A sweep deleted meanwhile is left
  // out.
  absl::StatusOr<std::vector<SweepRow>> ListSweeps(
      int limit, const std::string& page_token = "",
      std::string* next_page_token = nullptr);
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
  absl::StatusOr<std::optional<Lease>> LeaseJob(
      const std::string& worker_id, int64_t lease_ms,
      const std::vector<std::string>& held = {});

  // A worker's lease call: TouchWorker(worker_id, 0) and then LeaseJob in one
  // write. NOT_FOUND for an unknown worker id.
  struct LeaseAttempt {
    WorkerRow worker;  // as registered
    std::optional<Lease> lease;
  };
  // PERMISSION_DENIED when `token_name` did not register the worker.
  // `held`: the shared pretraining artifacts the worker has (LeaseTable::
  // Claim prefers jobs that need them).
  void TouchAndLease(const std::string& worker_id,
                     const std::string& token_name, int64_t lease_ms,
                     std::vector<std::string> held,
                     std::function<void(absl::StatusOr<LeaseAttempt>)> done);

  // Heartbeat, CompleteJob and FailJob check `who`: PERMISSION_DENIED when
  // its token did not register its worker (NOT_FOUND for an unknown
  // worker); ABORTED when it does not hold the job's current lease (another
  // worker's, or expired and re-leased, or finished), without saying whose.

  // Extends a lease and records progress.
  void Heartbeat(int64_t job_id, LeaseCredentials who, std::string phase,
                 int64_t step, int64_t total_steps, int64_t lease_ms,
                 std::function<void(absl::StatusOr<HeartbeatOutcome>)> done);

  // Stores the result, with the worker's token name, and marks the job
  // SUCCEEDED. Repeating the call with the same lease after success is OK
  // and changes nothing. `check`, when given, sees the leased job (without
  // its axis values) after the lease check; an error from it stores nothing
  // and is returned.
  using ResultCheck = std::function<absl::Status(const JobRow& job)>;
  void CompleteJob(int64_t job_id, LeaseCredentials who, ResultRecord result,
                   ResultCheck check, std::function<void(absl::Status)> done);

  // Ends an attempt. `release`: the worker is shutting down; the job is
  // queued again without counting the attempt. Otherwise the job FAILED with
  // `error` (CANCELLED when a cancel was requested).
  void FailJob(int64_t job_id, LeaseCredentials who, std::string error,
               bool release, std::function<void(absl::Status)> done);

  // Deletes a finished sweep: its jobs, axes, attempts, results, metrics
  // and curves. Results other sweeps were served from the cache are copies
  // of their own and stay. FAILED_PRECONDITION while a job is queued or
  // leased; NOT_FOUND for an unknown sweep.
  struct Deletion {
    int jobs = 0;
    int results = 0;
  };
  absl::StatusOr<Deletion> DeleteSweep(const std::string& sweep_id);

  // Drops every result that a worker of token `worker_token_name` produced,
  // and the cached copies of them, and queues those jobs again (attempt 0).
  // Returns the sweeps changed and how many results were dropped.
  // The token's shared pretraining artifacts go too: results that loaded
  // them are dropped with the rest, and jobs that still need them wait for
  // their pretraining to run again. The server removes `artifact_keys`'
  // files.
  struct Invalidation {
    int results = 0;
    std::vector<std::string> sweep_ids;
    std::vector<std::string> artifact_keys;
  };
  absl::StatusOr<Invalidation> InvalidateResults(
      const std::string& worker_token_name);

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
  // Repeated calls are answered from memory (the same shared set) until one
  // of the sweeps gets a new result.
  absl::StatusOr<SampleSet> MetricSamples(
      const std::vector<std::string>& sweep_ids, const std::string& metric,
      const std::string& row_axis, const std::string& col_axis,
      const std::vector<std::pair<std::string, double>>& filters = {});

  // How many of these (spec_key, spec) pairs already have a SUCCEEDED job:
  // what CreateSweep would serve from the cache. Reads only.
  absl::StatusOr<int> CountCached(
      const std::vector<std::pair<std::string, std::string>>& keys_and_specs);

  using ResultRow = storage::ResultRow;
  // Results of SUCCEEDED jobs of a sweep with job_id > after_job_id, in
  // job order.
  absl::StatusOr<std::vector<ResultRow>> ListResults(
      const std::string& sweep_id, int64_t after_job_id, int limit);

  // Names of the metrics stored for SUCCEEDED jobs of the sweeps, sorted.
  absl::StatusOr<std::vector<std::string>> MetricNames(
      const std::vector<std::string>& sweep_ids);

  // A new worker bound to `token_name` ("" without tokens): only callers
  // with that token may lease, heartbeat, complete or fail as it. Workers
  // silent for kForgetWorkersAfterMs without a job are forgotten first;
  // RESOURCE_EXHAUSTED when the token still has `max_per_token` workers.
  static constexpr int64_t kForgetWorkersAfterMs = 3600 * 1000;
  absl::StatusOr<std::string> RegisterWorker(
      const std::string& host, const std::string& device, int threads,
      const std::vector<std::string>& datasets,
      const std::string& token_name = "", int max_per_token = 1 << 30);
  // Records that a worker called; `current_job_id` 0 means idle. Returns the
  // worker; NOT_FOUND for an unknown id.
  absl::StatusOr<WorkerRow> TouchWorker(const std::string& worker_id,
                                        int64_t current_job_id);
  // Most recently seen first.
  absl::StatusOr<std::vector<WorkerRow>> ListWorkers();

  // Jobs in each state over every sweep (states with none are absent).
  absl::StatusOr<std::map<std::string, int64_t>> CountJobsByState();
  // Shared pretraining artifacts (store_artifacts.cc). The server keeps
  // their bytes; the store knows which exist and which jobs need them.
  // Calls with `who` check the lease as Heartbeat does.

  // The job `who` may upload the artifact of: a pretraining job, or an
  // experiment that pretrains itself (Lease::upload_pretraining).
  // FAILED_PRECONDITION for a job that does not share its pretraining,
  // ALREADY_EXISTS for an experiment whose artifact is stored.
  absl::StatusOr<JobRow> PretrainingToUpload(int64_t job_id,
                                             const LeaseCredentials& who);
  // The upload is whole: stores `artifact` (key: the job's) and queues the
  // experiments waiting for it; a pretraining job ends SUCCEEDED, an
  // experiment keeps its lease.
  absl::StatusOr<ArtifactOutcome> StoreArtifact(int64_t job_id,
                                                const LeaseCredentials& who,
                                                ArtifactRow artifact);
  // The artifact the leased experiment loads: its key, and the artifact
  // unless none is stored (see LoseArtifact); FAILED_PRECONDITION when the
  // job loads none.
  struct Download {
    std::string key;
    std::optional<ArtifactRow> artifact;
  };
  absl::StatusOr<Download> ArtifactToDownload(int64_t job_id,
                                              const LeaseCredentials& who);
  // Records a download.
  absl::Status TouchArtifact(const std::string& key);
  // The artifact is gone or corrupt: forgets it; its queued experiments
  // wait for a new pretraining job, made when none is live; and when
  // `job_id` is not 0, that leased experiment of `who` waits too, without
  // using up its attempt.
  absl::StatusOr<ArtifactOutcome> LoseArtifact(const std::string& key,
                                               int64_t job_id,
                                               const LeaseCredentials& who,
                                               const std::string& why);
  // Most recently used first, with users and needs.
  absl::StatusOr<std::vector<ArtifactRow>> ListArtifacts();
  absl::StatusOr<std::optional<ArtifactRow>> GetArtifact(
      const std::string& key);
  // Artifacts no live job needs, least recently used first.
  absl::StatusOr<std::vector<ArtifactRow>> EvictableArtifacts();
  // Forgets an artifact if still no live job needs it; false otherwise.
  absl::StatusOr<bool> EvictArtifact(const std::string& key);
  absl::StatusOr<int64_t> ArtifactBytes();

  // Leases that ran out since this process opened the store.
  int64_t lease_expiries() const;
  // Write transactions committed and writes in them since the store opened:
  // their ratio is the mean batch size.
  int64_t write_batches() const;
  int64_t writes() const;

 private:
  Store(Options options, std::unique_ptr<SQLite::Database> db);
  // Runs `body` with the connection's lock held, turning SQLite's
  // exceptions into a status: the form of every read.
  template <typename F>
  auto Read(F&& body) -> decltype(body());
  int64_t Now() const { return options_.now_ms(); }

  const Options options_;
  // Guards the connection and the tables; a batch of writes holds it.
  absl::Mutex mutex_;
  std::unique_ptr<SQLite::Database> db_ ABSL_PT_GUARDED_BY(mutex_);
  std::unique_ptr<StatementCache> statements_ ABSL_PT_GUARDED_BY(mutex_);
  std::unique_ptr<ResultTable> results_ ABSL_PT_GUARDED_BY(mutex_);
  std::unique_ptr<SweepTable> sweeps_ ABSL_PT_GUARDED_BY(mutex_);
  std::unique_ptr<WorkerTable> workers_ ABSL_PT_GUARDED_BY(mutex_);
  std::unique_ptr<LeaseTable> leases_ ABSL_PT_GUARDED_BY(mutex_);
  std::unique_ptr<ArtifactTable> artifacts_ ABSL_PT_GUARDED_BY(mutex_);
  std::unique_ptr<WalCheckpointer> checkpointer_;
  std::unique_ptr<GroupCommitQueue> writes_;
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_STORE_H_
