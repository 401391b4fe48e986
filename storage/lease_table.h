// Leases: handing a queued job to a worker under a fencing token (a row of
// the attempts table), extending it, and ending it as a result, a failure, a
// release or an expiry. A stale token changes nothing.
#ifndef FORGETLAB_STORAGE_LEASE_TABLE_H_
#define FORGETLAB_STORAGE_LEASE_TABLE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
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
class SweepTable;
class WorkerTable;

// Not thread-safe: see WorkerTable (lease_expiries() excepted).
class LeaseTable {
 public:
  LeaseTable(SQLite::Database& db, StatementCache& statements, SweepTable& jobs,
             WorkerTable& workers, ResultTable& results)
      : db_(db),
        statements_(statements),
        jobs_(jobs),
        workers_(workers),
        results_(results) {}

  // Claims the next queued job (priority, then FIFO) that the worker can run
  // (its device kind and datasets; an unregistered worker, `worker` null,
  // can run anything, and one that declared no datasets any dataset) with a
  // lease of `lease_ms`, expiring overdue leases first. nullopt when nothing
  // suitable is queued. Among the jobs of the first job's priority, one
  // whose shared pretraining artifact is in `held` (the worker has it)
  // goes first.
  absl::StatusOr<std::optional<Lease>> Claim(
      const std::string& worker_id, const WorkerRow* worker, int64_t lease_ms,
      int64_t now, const std::vector<std::string>& held = {});

  // Each of these first checks that `who` is a worker of its token
  // (PERMISSION_DENIED otherwise) and holds the job's current lease: its
  // worker and key (ABORTED otherwise, naming neither).

  // Extends a lease and records progress.
  absl::StatusOr<HeartbeatOutcome> Heartbeat(int64_t job_id,
                                             const LeaseCredentials& who,
                                             const std::string& phase,
                                             int64_t step, int64_t total_steps,
                                             int64_t lease_ms, int64_t now);

  // Stores the result, with who.token_name, and marks the job SUCCEEDED;
  // see Store::CompleteJob.
  using ResultCheck = std::function<absl::Status(const JobRow& job)>;
  absl::Status Complete(int64_t job_id, const LeaseCredentials& who,
                        const ResultRecord& result, const ResultCheck& check,
                        int64_t now);

  // Ends an attempt without a result; see Store::FailJob.
  absl::Status Fail(int64_t job_id, const LeaseCredentials& who,
                    const std::string& error, bool release, int64_t now);

  // The job `who` holds the current lease of (see above).
  absl::StatusOr<JobRow> Held(int64_t job_id, const LeaseCredentials& who);
  // Ends the lease of a pretraining job whose artifact is stored: SUCCEEDED
  // without a result.
  absl::Status SucceedPretraining(int64_t job_id, const LeaseCredentials& who,
                                  int64_t now);
  // Ends an experiment's lease because its artifact is gone: it WAITS
  // again, without using up the attempt.
  absl::Status ReturnToWaiting(int64_t job_id, const LeaseCredentials& who,
                               const std::string& why, int64_t now);

  // Re-queues (or fails, past max_attempts) leased jobs whose deadline has
  // passed. Returns the sweeps that changed.
  std::vector<std::string> Expire(int64_t now);
  // Moves every lease deadline to at least `min_deadline_ms`.
  void ExtendAll(int64_t min_deadline_ms);
  // Earliest deadline among leased jobs, if any.
  std::optional<int64_t> NextDeadline();

  // Forgets what it knows of the earliest deadline, after a write that may
  // have moved it was rolled back.
  void ForgetEarliestDeadline() { earliest_deadline_ = 0; }
  // Leases that ran out since the store opened.
  int64_t expiries() const { return expiries_.load(std::memory_order_relaxed); }

 private:
  // The job, after checking that `who`'s token registered its worker
  // (PERMISSION_DENIED, or NOT_FOUND for an unknown worker).
  absl::StatusOr<JobRow> ReadJobFor(int64_t job_id,
                                    const LeaseCredentials& who);
  // Ends a job's lease SUCCEEDED: its attempt too, and its worker is idle.
  void EndSucceeded(const JobRow& job, int64_t now);
  // Ends a job's lease: the new state (a QUEUED job also loses its worker),
  // its error and attempt count, no deadline.
  void EndLease(int64_t job_id, const char* state, const std::string& error,
                int attempt, int64_t now);
  // After a pretraining job ended without its artifact (FAILED or
  // CANCELLED): the experiments waiting for it pretrain themselves.
  void AfterPretrainingEnded(const JobRow& job, const char* state, int64_t now);
  // Records how the attempt with this fencing token ended.
  void EndAttempt(int64_t token, int64_t now, const char* outcome,
                  const std::string& error);

  SQLite::Database& db_;
  StatementCache& statements_;
  SweepTable& jobs_;
  WorkerTable& workers_;
  ResultTable& results_;
  // No lease ends before this (Unix ms): a lower bound, since heartbeats
  // and ExtendAll only move deadlines later. Expire sets it; 0 (unknown)
  // makes the next lease scan.
  int64_t earliest_deadline_ = 0;
  std::atomic<int64_t> expiries_{0};
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_LEASE_TABLE_H_
