// The sweeps and jobs tables: a sweep, its grid of jobs with their axis
// values, and the reads, cancels and retries over them.
#ifndef FORGETLAB_STORAGE_SWEEP_TABLE_H_
#define FORGETLAB_STORAGE_SWEEP_TABLE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/records.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace forgetlab::storage {

class ResultTable;
class StatementCache;

// Not thread-safe: see WorkerTable.
class SweepTable {
 public:
  // `results` gives jobs served from the result cache their copy.
  SweepTable(SQLite::Database& db, StatementCache& statements,
             ResultTable& results)
      : db_(db), statements_(statements), results_(results) {}

  // Stores a sweep and queues its jobs. When `request_id` names an existing
  // sweep, returns that sweep's id with *existing = true and stores nothing,
  // whatever the quotas say; otherwise RESOURCE_EXHAUSTED when the sweep
  // would pass one of its owner's quotas (CheckQuotas).
  absl::StatusOr<std::string> Create(const NewSweep& sweep, int64_t now,
                                     bool* existing);
  // Adds `growth.jobs` that the sweep does not have yet (by spec key), with
  // the cache, and replaces its spec with `growth.spec` unless that is "".
  // `new_axes` gives each axis the sweep did not have the value its existing
  // jobs ran with. Quotas as Create, except the sweeps-per-hour one. With
  // `dry_run` only counts (cache hits included).
  absl::StatusOr<Extension> Extend(
      const std::string& sweep_id, const NewSweep& growth,
      const std::map<std::string, double>& new_axes, bool dry_run, int64_t now);

  // NOT_FOUND for an unknown id.
  absl::StatusOr<SweepRow> Get(const std::string& sweep_id);
  absl::StatusOr<std::string> GetSpec(const std::string& sweep_id);
  // NOT_FOUND unless the sweep exists.
  absl::Status Require(const std::string& sweep_id);
  // Ids of the newest `limit` sweeps, newest first.
  // Up to `limit` sweep ids, newest first, older than `before` (a page
  // token from an earlier call; "" starts at the newest); *next is the
  // token for the page after, "" when there is none.
  std::vector<std::string> NewestIds(int limit, const std::string& before,
                                     std::string* next);

  std::vector<JobRow> ListJobs(const std::string& sweep_id,
                               std::optional<JobState> state,
                               int64_t after_job_id, int limit);
  // The job's row without its axis values (for the write paths), or with
  // them; NOT_FOUND for an unknown id.
  absl::StatusOr<JobRow> ReadJob(int64_t job_id);
  absl::StatusOr<JobRow> GetJob(int64_t job_id);
  // Fills in the axis values of `jobs`.
  void LoadAxes(std::vector<JobRow>* jobs);
  // The same for result rows.
  void LoadAxes(std::vector<ResultRow>* rows);

  absl::StatusOr<CancelOutcome> Cancel(const std::string& sweep_id,
                                       const std::vector<int64_t>& job_ids,
                                       int64_t now);
  // Queues the sweep's FAILED and CANCELLED jobs again; returns how many.
  absl::StatusOr<int> Retry(const std::string& sweep_id, int64_t now);
  // The sweep's job ids; FAILED_PRECONDITION while a job is queued or
  // leased, NOT_FOUND for an unknown sweep.
  absl::StatusOr<std::vector<int64_t>> FinishedJobIds(
      const std::string& sweep_id);
  // Deletes the sweep with its jobs (`job_ids`), their axes and attempts;
  // their results must be gone first.
  void Delete(const std::string& sweep_id, const std::vector<int64_t>& job_ids);

  // Queues one SUCCEEDED job again (its result is gone), attempt 0, with
  // `note` as its error until it runs.
  void Requeue(int64_t job_id, const std::string& note, int64_t now);

  // How many (spec_key, spec) pairs already have a SUCCEEDED job.
  int CountCached(
      const std::vector<std::pair<std::string, std::string>>& keys_and_specs);
  // Jobs in each state over every sweep (states with none are absent).
  std::map<std::string, int64_t> CountByState();

  // Shared pretraining (sweep_sharing.cc).
  // Queues the experiments WAITING for artifact `key`; `unshared` also
  // drops their key, so that they pretrain themselves (their pretraining
  // job failed or was cancelled).
  ArtifactOutcome ReleaseWaiters(const std::string& key, bool unshared,
                                 int64_t now);
  // The artifact `key` is gone: its QUEUED experiments wait again, and when
  // any job waits for it and no pretraining job of the key is queued or
  // leased, a new one joins the sweep of the first of them.
  ArtifactOutcome AwaitNewPretraining(const std::string& key, int64_t now);

 private:
  // RESOURCE_EXHAUSTED, naming the quota and the flag, when the sweep would
  // pass one of its owner's quotas (NewSweep::max_*).
  absl::Status CheckQuotas(const NewSweep& sweep, int64_t now);
  // Inserts the sweep's jobs with indices from `first_idx`, serving each
  // from the cache when the sweep allows; returns how many were.
  int InsertJobs(const std::string& sweep_id, int first_idx,
                 const NewSweep& sweep, int64_t now);
  // How each new job pretrains: its artifact key ("": sharing is off) and
  // whether it waits; and the pretraining jobs to add, one per key that at
  // least two of them need and that no artifact or live pretraining job
  // has. A key that one job needs and nothing makes is that job's to
  // pretrain and upload (Lease::upload_pretraining). `cached[i]`: the cache
  // serves job i (it needs nothing).
  struct SharingPlan {
    std::vector<std::string> keys;
    std::vector<bool> waiting;
    std::vector<size_t> pretrain;  // index of the job each copies its spec of
  };
  SharingPlan PlanSharing(const NewSweep& sweep,
                          const std::vector<bool>& cached);
  // Adds a QUEUED pretraining job of `key` to the sweep with `spec` (the
  // spec of a job that needs it), before the sweep's first index.
  struct PretrainJob {
    std::string key, spec, dataset, device_kind;
    int priority = 0;
    int max_attempts = 0;
    std::map<std::string, double> axis_values;
  };
  void InsertPretrainJob(const std::string& sweep_id, const PretrainJob& job,
                         int64_t now);
  // The sweep created with this request id, if any.
  std::optional<std::string> FindByRequestId(const std::string& request_id);

  SQLite::Database& db_;
  StatementCache& statements_;
  ResultTable& results_;
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_SWEEP_TABLE_H_
