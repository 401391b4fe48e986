// The sweeps, jobs and job_axes tables.
#include "storage/sweep_table.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/result_table.h"
#include "storage/sqlite_rows.h"
#include "storage/statement_cache.h"

namespace forgetlab::storage {
namespace {

absl::Status NoSweep(const std::string& sweep_id) {
  return absl::NotFoundError(
      absl::StrCat("no sweep '", sweep_id, "'; `forgetlab sweeps` lists them"));
}

}  // namespace

std::optional<std::string> SweepTable::FindByRequestId(
    const std::string& request_id) {
  SQLite::Statement q(db_, "SELECT sweep_id FROM sweeps WHERE request_id=?");
  q.bind(1, request_id);
  if (q.executeStep()) return q.getColumn(0).getString();
  return std::nullopt;
}

namespace {

// What a sweep stores of its owner's quota: its spec and its jobs'.
int64_t StoredBytes(const NewSweep& sweep) {
  int64_t bytes = static_cast<int64_t>(sweep.spec.size());
  for (const NewJob& job : sweep.jobs) {
    bytes += static_cast<int64_t>(job.spec.size());
  }
  return bytes;
}

}  // namespace

absl::Status SweepTable::CheckQuotas(const NewSweep& sweep, int64_t now) {
  const std::string who = sweep.owner.empty()
                              ? std::string("this server's user")
                              : absl::StrCat("'", sweep.owner, "'");
  if (sweep.max_sweeps_per_hour > 0) {
    SQLite::Statement q(db_,
                        "SELECT COUNT(*) FROM sweeps WHERE owner=? AND "
                        "created_ms>?");
    q.bind(1, sweep.owner);
    q.bind(2, now - 3600 * 1000);
    q.executeStep();
    if (q.getColumn(0).getInt() >= sweep.max_sweeps_per_hour) {
      return absl::ResourceExhaustedError(absl::StrCat(
          who, " submitted ", sweep.max_sweeps_per_hour,
          " sweeps in the last hour, the quota (--max_sweeps_per_hour); "
          "wait, or put more cells into one sweep"));
    }
  }
  if (sweep.max_queued_jobs > 0) {
    SQLite::Statement q(db_,
                        "SELECT COUNT(*) FROM jobs j JOIN sweeps s ON "
                        "s.sweep_id=j.sweep_id WHERE s.owner=? AND "
                        "j.state IN ('QUEUED','WAITING')");
    q.bind(1, sweep.owner);
    q.executeStep();
    const int64_t queued = q.getColumn(0).getInt64();
    if (queued + static_cast<int64_t>(sweep.jobs.size()) >
        sweep.max_queued_jobs) {
      return absl::ResourceExhaustedError(absl::StrCat(
          who, " has ", queued, " jobs queued; ", sweep.jobs.size(),
          " more would pass the quota of ", sweep.max_queued_jobs,
          " (--max_queued_jobs); wait for them, or cancel some"));
    }
  }
  if (sweep.max_stored_bytes > 0) {
    SQLite::Statement q(
        db_, "SELECT COALESCE(SUM(stored_bytes), 0) FROM sweeps WHERE owner=?");
    q.bind(1, sweep.owner);
    q.executeStep();
    const int64_t stored = q.getColumn(0).getInt64();
    if (stored + StoredBytes(sweep) > sweep.max_stored_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          who, " stores ", stored,
          " bytes of sweeps; this one would pass the "
          "quota of ",
          sweep.max_stored_bytes,
          " (--max_stored_bytes); `forgetlab delete` old sweeps first"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SweepTable::Create(const NewSweep& sweep,
                                               int64_t now, bool* existing) {
  *existing = false;
  if (!sweep.request_id.empty()) {
    if (std::optional<std::string> found = FindByRequestId(sweep.request_id)) {
      *existing = true;
      return *found;
    }
  }
  if (absl::Status s = CheckQuotas(sweep, now); !s.ok()) return s;
  const std::string sweep_id = RandomId("sw-", 10);
  {
    SQLite::Statement q(db_,
                        "INSERT INTO sweeps(sweep_id, name, spec, request_id, "
                        "priority, max_attempts, owner, created_ms, "
                        "stored_bytes) VALUES(?,?,?,?,?,?,?,?,?)");
    q.bind(1, sweep_id);
    q.bind(2, sweep.name);
    BindBlob(q, 3, sweep.spec);
    if (sweep.request_id.empty()) {
      q.bind(4);
    } else {
      q.bind(4, sweep.request_id);
    }
    q.bind(5, sweep.priority);
    q.bind(6, sweep.max_attempts);
    q.bind(7, sweep.owner);
    q.bind(8, now);
    q.bind(9, StoredBytes(sweep));
    q.exec();
  }
  InsertJobs(sweep_id, 0, sweep, now);
  return sweep_id;
}

int SweepTable::InsertJobs(const std::string& sweep_id, int first_idx,
                           const NewSweep& sweep, int64_t now) {
  // The cache first: an identical spec (key and bytes) that already
  // succeeded. A job it serves needs no pretraining.
  std::vector<int64_t> cached_from(sweep.jobs.size(), 0);
  std::vector<bool> cached(sweep.jobs.size(), false);
  if (sweep.use_cache) {
    SQLite::Statement find_cached(
        db_,
        "SELECT job_id FROM jobs WHERE spec_key=? AND "
        "state='SUCCEEDED' AND spec=? LIMIT 1");
    for (size_t i = 0; i < sweep.jobs.size(); ++i) {
      find_cached.reset();
      find_cached.bind(1, sweep.jobs[i].spec_key);
      BindBlob(find_cached, 2, sweep.jobs[i].spec);
      if (find_cached.executeStep()) {
        cached_from[i] = find_cached.getColumn(0).getInt64();
        cached[i] = true;
      }
    }
  }
  // Shared pretraining jobs go in first, so that they lease first.
  const SharingPlan plan = PlanSharing(sweep, cached);
  for (size_t i : plan.pretrain) {
    const NewJob& job = sweep.jobs[i];
    InsertPretrainJob(sweep_id,
                      {plan.keys[i], job.spec, job.dataset, sweep.device_kind,
                       sweep.priority, sweep.max_attempts, job.axis_values},
                      now);
  }
  int served = 0;
  SQLite::Statement insert_job(
      db_,
      "INSERT INTO jobs(sweep_id, idx, spec, spec_key, state, priority, "
      "max_attempts, updated_ms, dataset, device_kind, artifact_key) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?)");
  SQLite::Statement insert_axis(
      db_, "INSERT INTO job_axes(job_id, axis, value) VALUES(?,?,?)");
  SQLite::Statement mark_cached(db_,
                                "UPDATE jobs SET state='SUCCEEDED', cached=1, "
                                "updated_ms=? WHERE job_id=?");
  for (size_t i = 0; i < sweep.jobs.size(); ++i) {
    const NewJob& job = sweep.jobs[i];
    insert_job.reset();
    insert_job.bind(1, sweep_id);
    insert_job.bind(2, first_idx + static_cast<int>(i));
    BindBlob(insert_job, 3, job.spec);
    insert_job.bind(4, job.spec_key);
    insert_job.bind(5, plan.waiting[i] ? "WAITING" : "QUEUED");
    insert_job.bind(6, sweep.priority);
    insert_job.bind(7, sweep.max_attempts);
    insert_job.bind(8, now);
    insert_job.bind(9, job.dataset);
    insert_job.bind(10, sweep.device_kind);
    insert_job.bind(11, plan.keys[i]);
    insert_job.exec();
    const int64_t job_id = db_.getLastInsertRowid();
    if (cached[i]) {
      results_.Copy(cached_from[i], job_id, now);
      mark_cached.reset();
      mark_cached.bind(1, now);
      mark_cached.bind(2, job_id);
      mark_cached.exec();
      ++served;
    }
    for (const auto& [axis, value] : job.axis_values) {
      insert_axis.reset();
      insert_axis.bind(1, job_id);
      insert_axis.bind(2, axis);
      insert_axis.bind(3, value);
      insert_axis.exec();
    }
  }
  return served;
}

absl::StatusOr<Extension> SweepTable::Extend(
    const std::string& sweep_id, const NewSweep& growth,
    const std::map<std::string, double>& new_axes, bool dry_run, int64_t now) {
  if (absl::Status s = Require(sweep_id); !s.ok()) return s;
  // Only jobs the sweep does not have yet, checked in this transaction so
  // that two extensions at once cannot add one job twice.
  NewSweep added = growth;
  added.jobs.clear();
  added.max_sweeps_per_hour = 0;  // a sweep that grows is not a new sweep
  SQLite::Statement has(
      db_, "SELECT 1 FROM jobs WHERE sweep_id=? AND spec_key=? LIMIT 1");
  Extension out;
  {
    SQLite::Statement count(db_, "SELECT COUNT(*) FROM jobs WHERE sweep_id=?");
    count.bind(1, sweep_id);
    count.executeStep();
    out.total = count.getColumn(0).getInt();
  }
  for (const NewJob& job : growth.jobs) {
    has.reset();
    has.bind(1, sweep_id);
    has.bind(2, job.spec_key);
    if (has.executeStep()) {
      ++out.present;
    } else {
      added.jobs.push_back(job);
    }
  }
  out.added = static_cast<int>(added.jobs.size());
  if (dry_run) {
    std::vector<std::pair<std::string, std::string>> keys;
    for (const NewJob& job : added.jobs)
      keys.emplace_back(job.spec_key, job.spec);
    out.cached = growth.use_cache ? CountCached(keys) : 0;
    return out;
  }
  if (added.jobs.empty()) return out;
  added.spec.clear();  // the spec replaces the stored one: counted below
  if (absl::Status s = CheckQuotas(added, now); !s.ok()) return s;
  int first_idx = 0;
  {
    SQLite::Statement q(db_,
                        "SELECT COALESCE(MAX(idx), -1) + 1 FROM jobs WHERE "
                        "sweep_id=?");
    q.bind(1, sweep_id);
    q.executeStep();
    first_idx = q.getColumn(0).getInt();
  }
  // A new axis: the jobs already there get the value they were run with.
  for (const auto& [axis, value] : new_axes) {
    SQLite::Statement q(db_,
                        "INSERT INTO job_axes(job_id, axis, value) SELECT "
                        "job_id, ?, ? FROM jobs WHERE sweep_id=?");
    q.bind(1, axis);
    q.bind(2, value);
    q.bind(3, sweep_id);
    q.exec();
  }
  out.cached = InsertJobs(sweep_id, first_idx, added, now);
  out.total += out.added;
  SQLite::Statement update(
      db_,
      "UPDATE sweeps SET stored_bytes=stored_bytes + ?2 + CASE WHEN "
      "length(?1) = 0 THEN 0 ELSE length(?1) - length(spec) END, spec=CASE "
      "WHEN length(?1) = 0 THEN spec ELSE ?1 END WHERE sweep_id=?3");
  BindBlob(update, 1, growth.spec);
  update.bind(2, StoredBytes(added));
  update.bind(3, sweep_id);
  update.exec();
  return out;
}

absl::StatusOr<SweepRow> SweepTable::Get(const std::string& sweep_id) {
  SQLite::Statement q(db_,
                      "SELECT sweep_id, name, spec, owner, priority, "
                      "max_attempts, created_ms FROM sweeps WHERE sweep_id=?");
  q.bind(1, sweep_id);
  if (!q.executeStep()) return NoSweep(sweep_id);
  SweepRow row;
  row.sweep_id = q.getColumn(0).getString();
  row.name = q.getColumn(1).getString();
  row.spec = Blob(q.getColumn(2));
  row.owner = q.getColumn(3).getString();
  row.priority = q.getColumn(4).getInt();
  row.max_attempts = q.getColumn(5).getInt();
  row.created_ms = q.getColumn(6).getInt64();
  SQLite::Statement counts(db_,
                           "SELECT state, COUNT(*), SUM(cached), "
                           "SUM(kind='pretrain') FROM jobs "
                           "WHERE sweep_id=? GROUP BY state");
  counts.bind(1, sweep_id);
  while (counts.executeStep()) {
    const int n = counts.getColumn(1).getInt();
    row.counts[static_cast<int>(ParseState(counts.getColumn(0).getString()))] =
        n;
    row.total += n;
    row.cached += counts.getColumn(2).getInt();
    row.pretraining += counts.getColumn(3).getInt();
  }
  return row;
}

absl::StatusOr<std::string> SweepTable::GetSpec(const std::string& sweep_id) {
  SQLite::Statement q(db_, "SELECT spec FROM sweeps WHERE sweep_id=?");
  q.bind(1, sweep_id);
  if (!q.executeStep()) return NoSweep(sweep_id);
  return Blob(q.getColumn(0));
}

absl::Status SweepTable::Require(const std::string& sweep_id) {
  SQLite::Statement q(db_, "SELECT 1 FROM sweeps WHERE sweep_id=?");
  q.bind(1, sweep_id);
  if (q.executeStep()) return absl::OkStatus();
  return NoSweep(sweep_id);
}

std::vector<std::string> SweepTable::NewestIds(int limit,
                                               const std::string& before,
                                               std::string* next) {
  // The token is "<created_ms>.<rowid>" of the last sweep of a page; a
  // token that does not parse starts over at the newest.
  int64_t created = INT64_MAX, rowid = INT64_MAX;
  const size_t dot = before.find('.');
  if (dot == std::string::npos ||
      !absl::SimpleAtoi(before.substr(0, dot), &created) ||
      !absl::SimpleAtoi(before.substr(dot + 1), &rowid)) {
    created = rowid = INT64_MAX;
  }
  SQLite::Statement q(db_,
                      "SELECT sweep_id, created_ms, rowid FROM sweeps WHERE "
                      "created_ms<? OR (created_ms=? AND rowid<?) "
                      "ORDER BY created_ms DESC, rowid DESC LIMIT ?");
  q.bind(1, created);
  q.bind(2, created);
  q.bind(3, rowid);
  q.bind(4, limit + 1);  // one more says whether a next page exists
  std::vector<std::string> ids;
  next->clear();
  while (q.executeStep()) {
    if (static_cast<int>(ids.size()) == limit) break;
    ids.push_back(q.getColumn(0).getString());
    *next =
        absl::StrCat(q.getColumn(1).getInt64(), ".", q.getColumn(2).getInt64());
  }
  if (static_cast<int>(ids.size()) < limit || !q.hasRow()) next->clear();
  return ids;
}

std::vector<JobRow> SweepTable::ListJobs(const std::string& sweep_id,
                                         std::optional<JobState> state,
                                         int64_t after_job_id, int limit) {
  std::string sql = absl::StrCat("SELECT ", kJobColumns,
                                 " FROM jobs WHERE sweep_id=? AND job_id>?");
  if (state.has_value()) absl::StrAppend(&sql, " AND state=?");
  absl::StrAppend(&sql, " ORDER BY job_id LIMIT ?");
  SQLite::Statement q(db_, sql);
  int i = 1;
  q.bind(i++, sweep_id);
  q.bind(i++, after_job_id);
  if (state.has_value()) q.bind(i++, JobStateName(*state));
  q.bind(i++, limit);
  std::vector<JobRow> jobs;
  while (q.executeStep()) jobs.push_back(storage::ReadJob(q));
  LoadAxes(&jobs);
  return jobs;
}

absl::StatusOr<JobRow> SweepTable::ReadJob(int64_t job_id) {
  static const std::string* const kSql = new std::string(
      absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE job_id=?"));
  StatementCache::Use q = statements_.Prepared(*kSql);
  q->bind(1, job_id);
  if (!q->executeStep()) {
    return absl::NotFoundError(absl::StrCat("no job ", job_id));
  }
  return storage::ReadJob(*q);
}

absl::StatusOr<JobRow> SweepTable::GetJob(int64_t job_id) {
  absl::StatusOr<JobRow> job = ReadJob(job_id);
  if (!job.ok()) return job;
  std::vector<JobRow> jobs = {*std::move(job)};
  LoadAxes(&jobs);
  return std::move(jobs.front());
}

void SweepTable::LoadAxes(std::vector<JobRow>* jobs) {
  if (jobs->empty()) return;
  std::unordered_map<int64_t, JobRow*> by_id;
  int64_t low = jobs->front().job_id, high = low;
  for (JobRow& j : *jobs) {
    by_id[j.job_id] = &j;
    low = std::min(low, j.job_id);
    high = std::max(high, j.job_id);
  }
  StatementCache::Use q = statements_.Prepared(
      "SELECT job_id, axis, value FROM job_axes "
      "WHERE job_id BETWEEN ? AND ?");
  q->bind(1, low);
  q->bind(2, high);
  while (q->executeStep()) {
    auto it = by_id.find(q->getColumn(0).getInt64());
    if (it == by_id.end()) continue;
    it->second->axis_values[q->getColumn(1).getString()] =
        q->getColumn(2).getDouble();
  }
}

void SweepTable::LoadAxes(std::vector<ResultRow>* rows) {
  std::vector<JobRow> jobs(rows->size());
  for (size_t i = 0; i < rows->size(); ++i) jobs[i].job_id = (*rows)[i].job_id;
  LoadAxes(&jobs);
  for (size_t i = 0; i < rows->size(); ++i) {
    (*rows)[i].axis_values = std::move(jobs[i].axis_values);
  }
}

absl::StatusOr<CancelOutcome> SweepTable::Cancel(
    const std::string& sweep_id, const std::vector<int64_t>& job_ids,
    int64_t now) {
  if (absl::Status s = Require(sweep_id); !s.ok()) return s;
  std::vector<int64_t> ids = job_ids;
  if (ids.empty()) {
    SQLite::Statement q(db_, "SELECT job_id FROM jobs WHERE sweep_id=?");
    q.bind(1, sweep_id);
    while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
  }
  CancelOutcome out;
  SQLite::Statement exists(db_,
                           "SELECT 1 FROM jobs WHERE job_id=? AND sweep_id=?");
  SQLite::Statement queued(db_,
                           "UPDATE jobs SET state='CANCELLED', "
                           "error='cancelled by user', updated_ms=? "
                           "WHERE job_id=? AND state IN ('QUEUED','WAITING')");
  // A cancelled pretraining job's key: jobs of other sweeps that wait for
  // it pretrain themselves.
  SQLite::Statement pretrain_key(
      db_, "SELECT artifact_key FROM jobs WHERE job_id=? AND kind='pretrain'");
  std::vector<std::string> orphaned;
  SQLite::Statement leased(db_,
                           "UPDATE jobs SET cancel_requested=1, updated_ms=? "
                           "WHERE job_id=? AND state='LEASED'");
  for (int64_t id : ids) {
    exists.reset();
    exists.bind(1, id);
    exists.bind(2, sweep_id);
    if (!exists.executeStep()) {
      return absl::NotFoundError(
          absl::StrCat("sweep ", sweep_id, " has no job ", id));
    }
    for (SQLite::Statement* q : {&queued, &leased}) {
      q->reset();
      q->bind(1, now);
      q->bind(2, id);
    }
    const int cancelled = queued.exec();
    out.cancelled += cancelled;
    out.stopping += leased.exec();
    if (cancelled > 0) {
      pretrain_key.reset();
      pretrain_key.bind(1, id);
      if (pretrain_key.executeStep()) {
        orphaned.push_back(pretrain_key.getColumn(0).getString());
      }
    }
  }
  for (const std::string& key : orphaned) ReleaseWaiters(key, true, now);
  return out;
}

absl::StatusOr<int> SweepTable::Retry(const std::string& sweep_id,
                                      int64_t now) {
  if (absl::Status s = Require(sweep_id); !s.ok()) return s;
  // Experiments only: one that needs an artifact no longer stored waits
  // for a new pretraining job (AwaitNewPretraining makes it).
  SQLite::Statement q(db_,
                      "UPDATE jobs SET state='QUEUED', attempt=0, error='', "
                      "worker_id='', cancel_requested=0, phase='', step=0, "
                      "total_steps=0, updated_ms=? WHERE sweep_id=? AND "
                      "state IN ('FAILED','CANCELLED') AND kind='experiment'");
  q.bind(1, now);
  q.bind(2, sweep_id);
  const int requeued = q.exec();
  std::vector<std::string> missing;
  {
    SQLite::Statement m(db_,
                        "SELECT DISTINCT artifact_key FROM jobs WHERE "
                        "sweep_id=? AND state='QUEUED' AND artifact_key!='' "
                        "AND NOT EXISTS(SELECT 1 FROM artifacts a WHERE "
                        "a.key=jobs.artifact_key)");
    m.bind(1, sweep_id);
    while (m.executeStep()) missing.push_back(m.getColumn(0).getString());
  }
  for (const std::string& key : missing) AwaitNewPretraining(key, now);
  return requeued;
}

absl::StatusOr<std::vector<int64_t>> SweepTable::FinishedJobIds(
    const std::string& sweep_id) {
  if (absl::Status s = Require(sweep_id); !s.ok()) return s;
  std::vector<int64_t> ids;
  int running = 0;
  {
    SQLite::Statement q(db_,
                        "SELECT job_id, state IN ('QUEUED','LEASED','WAITING') "
                        "FROM jobs WHERE sweep_id=?");
    q.bind(1, sweep_id);
    while (q.executeStep()) {
      ids.push_back(q.getColumn(0).getInt64());
      running += q.getColumn(1).getInt();
    }
  }
  if (running > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("sweep ", sweep_id, " still has ", running,
                     " queued or running job(s); `forgetlab cancel ", sweep_id,
                     "` first, then delete it"));
  }
  return ids;
}

void SweepTable::Delete(const std::string& sweep_id,
                        const std::vector<int64_t>& job_ids) {
  for (const char* sql : {"DELETE FROM job_axes WHERE job_id=?",
                          "DELETE FROM attempts WHERE job_id=?",
                          "DELETE FROM jobs WHERE job_id=?"}) {
    ExecForEachJob(db_, sql, job_ids);
  }
  SQLite::Statement q(db_, "DELETE FROM sweeps WHERE sweep_id=?");
  q.bind(1, sweep_id);
  q.exec();
}

void SweepTable::Requeue(int64_t job_id, const std::string& note, int64_t now) {
  SQLite::Statement q(db_,
                      "UPDATE jobs SET state='QUEUED', attempt=0, error=?, "
                      "worker_id='', cancel_requested=0, cached=0, phase='', "
                      "step=0, total_steps=0, lease_key='', updated_ms=? "
                      "WHERE job_id=?");
  q.bind(1, note);
  q.bind(2, now);
  q.bind(3, job_id);
  q.exec();
}

int SweepTable::CountCached(
    const std::vector<std::pair<std::string, std::string>>& keys_and_specs) {
  SQLite::Statement q(db_,
                      "SELECT 1 FROM jobs WHERE spec_key=? AND "
                      "state='SUCCEEDED' AND spec=? LIMIT 1");
  int cached = 0;
  for (const auto& [key, spec] : keys_and_specs) {
    q.reset();
    q.bind(1, key);
    BindBlob(q, 2, spec);
    cached += q.executeStep() ? 1 : 0;
  }
  return cached;
}

std::map<std::string, int64_t> SweepTable::CountByState() {
  SQLite::Statement q(db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  std::map<std::string, int64_t> counts;
  while (q.executeStep()) {
    counts[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  }
  return counts;
}

}  // namespace forgetlab::storage
