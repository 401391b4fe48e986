// Shared pretraining in the jobs table: which new jobs wait for an artifact,
// the pretraining jobs that make artifacts, and the waiters' way out when an
// artifact is made, lost, or will not be made.
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "storage/sqlite_rows.h"
#include "storage/sweep_table.h"

namespace forgetlab::storage {
namespace {

// The sweeps with jobs in `state` that need `key`.
std::vector<std::string> SweepsWith(SQLite::Database& db,
                                    const std::string& key, const char* state) {
  SQLite::Statement q(db,
                      "SELECT DISTINCT sweep_id FROM jobs WHERE "
                      "artifact_key=? AND state=? AND kind='experiment'");
  q.bind(1, key);
  q.bind(2, state);
  std::vector<std::string> sweeps;
  while (q.executeStep()) sweeps.push_back(q.getColumn(0).getString());
  return sweeps;
}

bool Exists(SQLite::Database& db, const char* sql, const std::string& key) {
  SQLite::Statement q(db, sql);
  q.bind(1, key);
  return q.executeStep();
}

bool HasArtifact(SQLite::Database& db, const std::string& key) {
  return Exists(db, "SELECT 1 FROM artifacts WHERE key=?", key);
}

// A pretraining job of `key` that will still run.
bool HasLivePretraining(SQLite::Database& db, const std::string& key) {
  return Exists(db,
                "SELECT 1 FROM jobs WHERE artifact_key=? AND kind='pretrain' "
                "AND state IN ('QUEUED','LEASED')",
                key);
}

// Axes of a pretraining job: those of the job it copies that pretraining
// reads (not fine-tuning's, evaluation's or the tasks').
std::map<std::string, double> PretrainingAxes(
    const std::map<std::string, double>& axes) {
  std::map<std::string, double> kept;
  for (const auto& [path, value] : axes) {
    if (absl::StartsWith(path, "finetune.") ||
        absl::StartsWith(path, "eval.") || absl::StartsWith(path, "tasks")) {
      continue;
    }
    kept.emplace(path, value);
  }
  return kept;
}

}  // namespace

SweepTable::SharingPlan SweepTable::PlanSharing(
    const NewSweep& sweep, const std::vector<bool>& cached) {
  const size_t n = sweep.jobs.size();
  SharingPlan plan{
      std::vector<std::string>(n), std::vector<bool>(n, false), {}};
  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < n; ++i) {
    if (!cached[i] && !sweep.jobs[i].artifact_key.empty()) {
      by_key[sweep.jobs[i].artifact_key].push_back(i);
    }
  }
  for (const auto& [key, jobs] : by_key) {
    bool wait = true;
    if (HasArtifact(db_, key)) {
      wait = false;
    } else if (HasLivePretraining(db_, key)) {
      // another sweep's pretraining job makes it
    } else if (jobs.size() >= 2) {
      plan.pretrain.push_back(jobs.front());
    } else {
      // One job: it pretrains itself, with no wait and no extra job, and
      // uploads the weights for later sweeps and extensions.
      wait = false;
    }
    for (size_t i : jobs) {
      plan.keys[i] = key;
      plan.waiting[i] = wait;
    }
  }
  std::sort(plan.pretrain.begin(), plan.pretrain.end());  // queue order
  return plan;
}

void SweepTable::InsertPretrainJob(const std::string& sweep_id,
                                   const PretrainJob& job, int64_t now) {
  int idx = -1;
  {
    SQLite::Statement q(
        db_,
        "SELECT MIN(0, COALESCE(MIN(idx), 0)) - 1 FROM jobs WHERE sweep_id=?");
    q.bind(1, sweep_id);
    q.executeStep();
    idx = q.getColumn(0).getInt();
  }
  SQLite::Statement insert(
      db_,
      "INSERT INTO jobs(sweep_id, idx, spec, spec_key, state, priority, "
      "max_attempts, updated_ms, dataset, device_kind, kind, artifact_key) "
      "VALUES(?,?,?,?,'QUEUED',?,?,?,?,?,'pretrain',?)");
  insert.bind(1, sweep_id);
  insert.bind(2, idx);
  BindBlob(insert, 3, job.spec);
  // Never a result-cache key: those are 16 hex digits.
  insert.bind(4, "pretrain-" + job.key);
  insert.bind(5, job.priority);
  insert.bind(6, job.max_attempts);
  insert.bind(7, now);
  insert.bind(8, job.dataset);
  insert.bind(9, job.device_kind);
  insert.bind(10, job.key);
  insert.exec();
  const int64_t job_id = db_.getLastInsertRowid();
  SQLite::Statement axis(
      db_, "INSERT INTO job_axes(job_id, axis, value) VALUES(?,?,?)");
  for (const auto& [path, value] : PretrainingAxes(job.axis_values)) {
    axis.reset();
    axis.bind(1, job_id);
    axis.bind(2, path);
    axis.bind(3, value);
    axis.exec();
  }
}

ArtifactOutcome SweepTable::ReleaseWaiters(const std::string& key,
                                           bool unshared, int64_t now) {
  ArtifactOutcome out;
  out.sweep_ids = SweepsWith(db_, key, "WAITING");
  SQLite::Statement q(db_,
                      "UPDATE jobs SET state='QUEUED', updated_ms=?, "
                      "artifact_key=CASE WHEN ? THEN '' ELSE artifact_key END "
                      "WHERE artifact_key=? AND state='WAITING' AND "
                      "kind='experiment'");
  q.bind(1, now);
  q.bind(2, unshared ? 1 : 0);
  q.bind(3, key);
  out.released = q.exec();
  return out;
}

ArtifactOutcome SweepTable::AwaitNewPretraining(const std::string& key,
                                                int64_t now) {
  ArtifactOutcome out;
  out.sweep_ids = SweepsWith(db_, key, "QUEUED");
  {
    SQLite::Statement q(db_,
                        "UPDATE jobs SET state='WAITING', updated_ms=? WHERE "
                        "artifact_key=? AND state='QUEUED' AND "
                        "kind='experiment'");
    q.bind(1, now);
    q.bind(2, key);
    q.exec();
  }
  SQLite::Statement first(db_,
                          "SELECT job_id, sweep_id, spec, dataset, "
                          "device_kind, priority, max_attempts FROM jobs "
                          "WHERE artifact_key=? AND state='WAITING' AND "
                          "kind='experiment' ORDER BY job_id");
  first.bind(1, key);
  while (first.executeStep()) {
    ++out.waiting;
    if (out.waiting > 1) continue;
    if (HasLivePretraining(db_, key)) continue;
    PretrainJob job{key,
                    Blob(first.getColumn(2)),
                    first.getColumn(3).getString(),
                    first.getColumn(4).getString(),
                    first.getColumn(5).getInt(),
                    first.getColumn(6).getInt(),
                    {}};
    std::vector<JobRow> axes(1);
    axes[0].job_id = first.getColumn(0).getInt64();
    LoadAxes(&axes);
    job.axis_values = axes[0].axis_values;
    const std::string sweep_id = first.getColumn(1).getString();
    InsertPretrainJob(sweep_id, job, now);
    out.sweep_ids.push_back(sweep_id);
  }
  std::sort(out.sweep_ids.begin(), out.sweep_ids.end());
  out.sweep_ids.erase(std::unique(out.sweep_ids.begin(), out.sweep_ids.end()),
                      out.sweep_ids.end());
  return out;
}

}  // namespace forgetlab::storage
