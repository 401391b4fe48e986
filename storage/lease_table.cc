// Leases over the jobs and attempts tables.
#include "storage/lease_table.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "storage/result_table.h"
#include "storage/sqlite_rows.h"
#include "storage/statement_cache.h"
#include "storage/sweep_table.h"
#include "storage/worker_table.h"

namespace forgetlab::storage {
namespace {

// Says nothing about the current lease: not its key, not its worker.
absl::Status StaleLease(const JobRow& job) {
  return absl::AbortedError(absl::StrCat(
      "job ", job.job_id, ": this is not the job's current lease (the job is ",
      JobStateName(job.state), "); drop this attempt"));
}

// The lease `who` presents is the job's, held by that worker.
bool IsLeaseOf(const JobRow& job, const LeaseCredentials& who) {
  return job.worker_id == who.worker_id &&
         SameSecret(job.lease_key, who.lease_key);
}

bool HoldsLease(const JobRow& job, const LeaseCredentials& who) {
  return job.state == JobState::kLeased && IsLeaseOf(job, who);
}

}  // namespace

absl::StatusOr<std::optional<Lease>> LeaseTable::Claim(
    const std::string& worker_id, const WorkerRow* worker, int64_t lease_ms,
    int64_t now, const std::vector<std::string>& held) {
  // Expire overdue leases first, so that their jobs can go out now; skip
  // the scan while no deadline can have passed.
  if (now > earliest_deadline_) Expire(now);
  int64_t job_id = 0;
  int attempt = 0;
  {
    // What the worker offers. An unregistered id, or one that declared no
    // datasets, is not filtered on them. A job may need several datasets
    // (an LM job: one per text domain), all of which the worker must offer.
    std::string device_kind, datasets;
    if (worker != nullptr) {
      device_kind = worker->device.substr(0, worker->device.find(':'));
      datasets = JoinDatasets(worker->datasets);
    }
    StatementCache::Use q = statements_.Prepared(
        "SELECT job_id, attempt, priority, artifact_key FROM jobs WHERE "
        "state='QUEUED' AND "
        "(?=0 OR ((device_kind='' OR device_kind=?) AND "
        "(?='' OR dataset='' OR offers_all(?, dataset)))) "
        "ORDER BY priority DESC, job_id LIMIT 1");
    q->bind(1, worker != nullptr ? 1 : 0);
    q->bind(2, device_kind);
    q->bind(3, datasets);
    q->bind(4, datasets);
    if (!q->executeStep()) {
      return std::optional<Lease>();  // the expiries are kept
    }
    job_id = q->getColumn(0).getInt64();
    attempt = q->getColumn(1).getInt() + 1;
    const int priority = q->getColumn(2).getInt();
    const std::string first_key = q->getColumn(3).getString();
    if (!held.empty() &&
        std::find(held.begin(), held.end(), first_key) == held.end()) {
      // A job of the same priority whose artifact the worker already has:
      // no download, and the others stay for workers that have theirs.
      StatementCache::Use h = statements_.Prepared(
          "SELECT job_id, attempt FROM jobs WHERE artifact_key=? AND "
          "state='QUEUED' AND priority=? AND kind='experiment' AND "
          "(?=0 OR ((device_kind='' OR device_kind=?) AND "
          "(?='' OR dataset='' OR offers_all(?, dataset)))) "
          "ORDER BY job_id LIMIT 1");
      for (const std::string& key : held) {
        if (key.empty()) continue;
        h->reset();
        h->bind(1, key);
        h->bind(2, priority);
        h->bind(3, worker != nullptr ? 1 : 0);
        h->bind(4, device_kind);
        h->bind(5, datasets);
        h->bind(6, datasets);
        if (h->executeStep()) {
          job_id = h->getColumn(0).getInt64();
          attempt = h->getColumn(1).getInt() + 1;
          break;
        }
      }
    }
  }
  StatementCache::Use a = statements_.Prepared(
      "INSERT INTO attempts(job_id, attempt, worker_id, started_ms) "
      "VALUES(?,?,?,?)");
  a->bind(1, job_id);
  a->bind(2, attempt);
  a->bind(3, worker_id);
  a->bind(4, now);
  a->exec();
  const int64_t token = db_.getLastInsertRowid();
  const std::string key = SecretHex(16);
  const int64_t deadline = now + lease_ms;
  earliest_deadline_ = std::min(earliest_deadline_, deadline);
  StatementCache::Use u = statements_.Prepared(
      "UPDATE jobs SET state='LEASED', attempt=?, worker_id=?, "
      "lease_token=?, lease_key=?, deadline_ms=?, phase='', step=0, "
      "total_steps=0, updated_ms=? WHERE job_id=?");
  u->bind(1, attempt);
  u->bind(2, worker_id);
  u->bind(3, token);
  u->bind(4, key);
  u->bind(5, deadline);
  u->bind(6, now);
  u->bind(7, job_id);
  u->exec();
  workers_.SetJob(worker_id, job_id, now);
  absl::StatusOr<JobRow> job = jobs_.GetJob(job_id);
  if (!job.ok()) return job.status();
  Lease lease{*std::move(job), token, key, deadline, false};
  if (lease.job.kind != kPretrainKind && !lease.job.artifact_key.empty()) {
    StatementCache::Use a =
        statements_.Prepared("SELECT 1 FROM artifacts WHERE key=?");
    a->bind(1, lease.job.artifact_key);
    lease.upload_pretraining = !a->executeStep();
  }
  return std::optional<Lease>(std::move(lease));
}

absl::StatusOr<JobRow> LeaseTable::ReadJobFor(int64_t job_id,
                                              const LeaseCredentials& who) {
  absl::StatusOr<WorkerRow> worker =
      workers_.ReadOwn(who.worker_id, who.token_name);
  if (!worker.ok()) return worker.status();
  return jobs_.ReadJob(job_id);
}

absl::StatusOr<HeartbeatOutcome> LeaseTable::Heartbeat(
    int64_t job_id, const LeaseCredentials& who, const std::string& phase,
    int64_t step, int64_t total_steps, int64_t lease_ms, int64_t now) {
  absl::StatusOr<JobRow> job = ReadJobFor(job_id, who);
  if (!job.ok()) return job.status();
  if (!HoldsLease(*job, who)) return StaleLease(*job);
  HeartbeatOutcome out{now + lease_ms, job->cancel_requested};
  StatementCache::Use u = statements_.Prepared(
      "UPDATE jobs SET deadline_ms=?, phase=?, step=?, "
      "total_steps=?, updated_ms=? WHERE job_id=?");
  u->bind(1, out.deadline_ms);
  u->bind(2, phase);
  u->bind(3, step);
  u->bind(4, total_steps);
  u->bind(5, now);
  u->bind(6, job_id);
  u->exec();
  workers_.SetJob(job->worker_id, job_id, now);
  return out;
}

absl::Status LeaseTable::Complete(int64_t job_id, const LeaseCredentials& who,
                                  const ResultRecord& result,
                                  const ResultCheck& check, int64_t now) {
  absl::StatusOr<JobRow> job = ReadJobFor(job_id, who);
  if (!job.ok()) return job.status();
  if (job->state == JobState::kSucceeded && IsLeaseOf(*job, who)) {
    return absl::OkStatus();  // a retried CompleteJob: already stored
  }
  if (!HoldsLease(*job, who)) return StaleLease(*job);
  if (job->kind == kPretrainKind) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id,
        " is a shared pretraining job: it ends with UploadArtifact, not "
        "CompleteJob"));
  }
  if (check) {
    if (absl::Status s = check(*job); !s.ok()) return s;
  }
  // Whose weights it loaded: the artifact its worker fetched (and checked
  // against the stored hash) is the one stored now.
  std::optional<std::string> pretrain_token;
  if (!job->artifact_key.empty()) {
    StatementCache::Use a = statements_.Prepared(
        "SELECT worker_token_name FROM artifacts WHERE key=?");
    a->bind(1, job->artifact_key);
    if (a->executeStep()) pretrain_token = a->getColumn(0).getString();
  }
  results_.Insert(job_id, job->sweep_id, result, who.token_name, pretrain_token,
                  now);
  EndSucceeded(*job, now);
  return absl::OkStatus();
}

absl::Status LeaseTable::Fail(int64_t job_id, const LeaseCredentials& who,
                              const std::string& error, bool release,
                              int64_t now) {
  absl::StatusOr<JobRow> job = ReadJobFor(job_id, who);
  if (!job.ok()) return job.status();
  if (!HoldsLease(*job, who)) return StaleLease(*job);
  const char* next;
  std::string message = error;
  int attempt = job->attempt;
  if (job->cancel_requested) {
    next = "CANCELLED";
    message = "cancelled by user";
  } else if (release) {
    next = "QUEUED";
    attempt -= 1;  // an attempt handed back untried does not count
    message = "";
  } else {
    next = "FAILED";
  }
  EndLease(job_id, next, message, attempt, now);
  EndAttempt(job->lease_token, now, release ? "RELEASED" : "FAILED", error);
  workers_.SetJob(job->worker_id, 0, now);
  AfterPretrainingEnded(*job, next, now);
  return absl::OkStatus();
}

absl::StatusOr<JobRow> LeaseTable::Held(int64_t job_id,
                                        const LeaseCredentials& who) {
  absl::StatusOr<JobRow> job = ReadJobFor(job_id, who);
  if (!job.ok()) return job.status();
  if (!HoldsLease(*job, who)) return StaleLease(*job);
  return job;
}

absl::Status LeaseTable::SucceedPretraining(int64_t job_id,
                                            const LeaseCredentials& who,
                                            int64_t now) {
  absl::StatusOr<JobRow> job = Held(job_id, who);
  if (!job.ok()) return job.status();
  EndSucceeded(*job, now);
  return absl::OkStatus();
}

absl::Status LeaseTable::ReturnToWaiting(int64_t job_id,
                                         const LeaseCredentials& who,
                                         const std::string& why, int64_t now) {
  absl::StatusOr<JobRow> job = Held(job_id, who);
  if (!job.ok()) return job.status();
  EndLease(job_id, "WAITING", why, job->attempt - 1, now);
  EndAttempt(job->lease_token, now, "RELEASED", why);
  workers_.SetJob(job->worker_id, 0, now);
  return absl::OkStatus();
}

void LeaseTable::AfterPretrainingEnded(const JobRow& job, const char* state,
                                       int64_t now) {
  if (job.kind != kPretrainKind) return;
  const std::string s = state;
  if (s == "FAILED" || s == "CANCELLED") {
    jobs_.ReleaseWaiters(job.artifact_key, true, now);
  }
}

std::vector<std::string> LeaseTable::Expire(int64_t now) {
  struct Expired {
    int64_t job_id, token;
    std::string sweep_id, worker_id;
    int attempt, max_attempts;
    bool cancel;
    JobRow job;  // kind and artifact key
  };
  std::vector<Expired> expired;
  int64_t earliest = std::numeric_limits<int64_t>::max();
  {
    // Every lease (the index on state finds them; their deadlines are in
    // the rows), to learn the earliest deadline that stays.
    StatementCache::Use q = statements_.Prepared(
        "SELECT job_id, lease_token, sweep_id, worker_id, attempt, "
        "max_attempts, cancel_requested, deadline_ms, kind, artifact_key "
        "FROM jobs WHERE state='LEASED'");
    while (q->executeStep()) {
      const int64_t deadline = q->getColumn(7).getInt64();
      if (deadline >= now) {
        earliest = std::min(earliest, deadline);
        continue;
      }
      expired.push_back({q->getColumn(0).getInt64(), q->getColumn(1).getInt64(),
                         q->getColumn(2).getString(),
                         q->getColumn(3).getString(), q->getColumn(4).getInt(),
                         q->getColumn(5).getInt(),
                         q->getColumn(6).getInt() != 0, JobRow()});
      expired.back().job.kind = q->getColumn(8).getString();
      expired.back().job.artifact_key = q->getColumn(9).getString();
    }
  }
  earliest_deadline_ = earliest;
  std::vector<std::string> sweeps;
  for (const Expired& e : expired) {
    const std::string error = absl::StrCat(
        "attempt ", e.attempt, " of ", e.max_attempts,
        ": lease expired (worker ", e.worker_id, " stopped heartbeating)");
    const char* next = e.cancel                      ? "CANCELLED"
                       : e.attempt >= e.max_attempts ? "FAILED"
                                                     : "QUEUED";
    EndLease(e.job_id, next,
             e.cancel ? std::string("cancelled by user") : error, e.attempt,
             now);
    EndAttempt(e.token, now, "EXPIRED", error);
    workers_.ClearJob(e.worker_id, e.job_id);
    AfterPretrainingEnded(e.job, next, now);
    sweeps.push_back(e.sweep_id);
  }
  expiries_.fetch_add(static_cast<int64_t>(expired.size()),
                      std::memory_order_relaxed);
  return sweeps;
}

void LeaseTable::ExtendAll(int64_t min_deadline_ms) {
  SQLite::Statement q(db_,
                      "UPDATE jobs SET deadline_ms=? WHERE state='LEASED' "
                      "AND deadline_ms<?");
  q.bind(1, min_deadline_ms);
  q.bind(2, min_deadline_ms);
  q.exec();
}

std::optional<int64_t> LeaseTable::NextDeadline() {
  SQLite::Statement q(db_,
                      "SELECT MIN(deadline_ms) FROM jobs WHERE state='LEASED'");
  if (q.executeStep() && !q.getColumn(0).isNull()) {
    return q.getColumn(0).getInt64();
  }
  return std::nullopt;
}

void LeaseTable::EndSucceeded(const JobRow& job, int64_t now) {
  StatementCache::Use u = statements_.Prepared(
      "UPDATE jobs SET state='SUCCEEDED', error='', deadline_ms=0, "
      "phase='done', step=total_steps, updated_ms=? WHERE job_id=?");
  u->bind(1, now);
  u->bind(2, job.job_id);
  u->exec();
  EndAttempt(job.lease_token, now, "SUCCEEDED", "");
  workers_.SetJob(job.worker_id, 0, now);
}

void LeaseTable::EndLease(int64_t job_id, const char* state,
                          const std::string& error, int attempt, int64_t now) {
  StatementCache::Use q = statements_.Prepared(
      "UPDATE jobs SET state=?, error=?, attempt=?, "
      "worker_id=CASE WHEN ? IN ('QUEUED','WAITING') THEN '' ELSE worker_id "
      "END, deadline_ms=0, updated_ms=? WHERE job_id=?");
  q->bind(1, state);
  q->bind(2, error);
  q->bind(3, attempt);
  q->bind(4, state);
  q->bind(5, now);
  q->bind(6, job_id);
  q->exec();
}

void LeaseTable::EndAttempt(int64_t token, int64_t now, const char* outcome,
                            const std::string& error) {
  StatementCache::Use q = statements_.Prepared(
      "UPDATE attempts SET ended_ms=?, outcome=?, error=? WHERE token=?");
  q->bind(1, now);
  q->bind(2, outcome);
  q->bind(3, error);
  q->bind(4, token);
  q->exec();
}

}  // namespace forgetlab::storage
