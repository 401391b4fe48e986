// The results, result_metrics and curves tables.
#include "storage/result_table.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/sqlite_rows.h"
#include "storage/statement_cache.h"

namespace forgetlab::storage {
namespace {

// Entries kept by the sample cache before it starts over, to bound memory.
constexpr size_t kMaxCachedQueries = 16;

}  // namespace

void ResultTable::Insert(int64_t job_id, const std::string& sweep_id,
                         const ResultRecord& result,
                         const std::string& worker_token_name,
                         const std::optional<std::string>& pretrain_token_name,
                         int64_t now) {
  ++sweep_generation_[sweep_id];  // cached samples are out of date
  {
    StatementCache::Use q = statements_.Prepared(
        "INSERT INTO results(job_id, parameter_count, device, "
        "total_seconds, accuracy_matrix, blob, created_ms, "
        "worker_token_name, pretrain_token_name) VALUES(?,?,?,?,?,?,?,?,?)");
    q->bind(1, job_id);
    q->bind(2, result.parameter_count);
    q->bind(3, result.device);
    q->bind(4, result.total_seconds);
    q->bind(5, MatrixText(result.accuracy_matrix));
    BindBlob(*q, 6, result.blob);
    q->bind(7, now);
    q->bind(8, worker_token_name);
    if (pretrain_token_name.has_value()) {
      q->bind(9, *pretrain_token_name);
    } else {
      q->bind(9);
    }
    q->exec();
  }
  StatementCache::Use m = statements_.Prepared(
      "INSERT INTO result_metrics(job_id, name, value) VALUES(?,?,?)");
  for (const auto& [name, value] : result.metrics) {
    m->reset();
    m->bind(1, job_id);
    m->bind(2, name);
    m->bind(3, value);
    m->exec();
  }
  StatementCache::Use c = statements_.Prepared(
      "INSERT OR REPLACE INTO curves(job_id, stage, step, task, accuracy) "
      "VALUES(?,?,?,?,?)");
  for (const CurveSample& p : result.curves) {
    c->reset();
    c->bind(1, job_id);
    c->bind(2, p.stage);
    c->bind(3, p.step);
    c->bind(4, p.task);
    c->bind(5, p.accuracy);
    c->exec();
  }
}

void ResultTable::Copy(int64_t from_job, int64_t to_job, int64_t now) {
  {
    SQLite::Statement q(db_,
                        "INSERT INTO results(job_id, parameter_count, device, "
                        "total_seconds, accuracy_matrix, blob, created_ms, "
                        "worker_token_name, pretrain_token_name) "
                        "SELECT ?, parameter_count, device, total_seconds, "
                        "accuracy_matrix, blob, ?, worker_token_name, "
                        "pretrain_token_name "
                        "FROM results WHERE job_id=?");
    q.bind(1, to_job);
    q.bind(2, now);
    q.bind(3, from_job);
    q.exec();
  }
  for (const char* sql :
       {"INSERT INTO result_metrics(job_id, name, value) SELECT ?, name, "
        "value FROM result_metrics WHERE job_id=?",
        "INSERT INTO curves(job_id, stage, step, task, accuracy) SELECT ?, "
        "stage, step, task, accuracy FROM curves WHERE job_id=?"}) {
    SQLite::Statement q(db_, sql);
    q.bind(1, to_job);
    q.bind(2, from_job);
    q.exec();
  }
}

absl::StatusOr<std::string> ResultTable::Blob(int64_t job_id) {
  SQLite::Statement q(db_, "SELECT blob FROM results WHERE job_id=?");
  q.bind(1, job_id);
  if (!q.executeStep()) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no result"));
  }
  return storage::Blob(q.getColumn(0));
}

SampleSet ResultTable::Samples(
    const std::vector<std::string>& sweep_ids, const std::string& metric,
    const std::string& row_axis, const std::string& col_axis,
    const std::vector<std::pair<std::string, double>>& filters) {
  std::string key = absl::StrCat(metric, "\x1f", row_axis, "\x1f", col_axis);
  for (const std::string& id : sweep_ids) absl::StrAppend(&key, "\x1f", id);
  for (const auto& [path, value] : filters) {
    absl::StrAppend(&key, "\x1e", path, "=", value);
  }
  std::vector<uint64_t> generations;
  for (const std::string& id : sweep_ids) {
    auto it = sweep_generation_.find(id);
    generations.push_back(it == sweep_generation_.end() ? 0 : it->second);
  }
  auto cached = sample_cache_.find(key);
  if (cached != sample_cache_.end() &&
      cached->second.generations == generations) {
    return cached->second.samples;
  }
  std::vector<std::string> marks(sweep_ids.size(), "?");
  std::string filter_joins;
  for (size_t f = 0; f < filters.size(); ++f) {
    absl::StrAppend(&filter_joins, "JOIN job_axes f", f, " ON f", f,
                    ".job_id=j.job_id AND f", f, ".axis=? AND f", f,
                    ".value=? ");
  }
  SQLite::Statement q(
      db_, absl::StrCat(
               "SELECT j.sweep_id, ra.value, ca.value, m.value, "
               "r.parameter_count, j.job_id, j.spec_key, "
               "(SELECT group_concat(x.axis || '=' || x.value, ';') "
               "FROM job_axes x WHERE x.job_id=j.job_id AND "
               "x.axis NOT IN (?, ?, 'seed')) "
               "FROM jobs j "
               "JOIN result_metrics m ON m.job_id=j.job_id AND m.name=? "
               "JOIN results r ON r.job_id=j.job_id "
               "LEFT JOIN job_axes ra ON ra.job_id=j.job_id AND ra.axis=? "
               "LEFT JOIN job_axes ca ON ca.job_id=j.job_id AND ca.axis=? ",
               filter_joins, "WHERE j.state='SUCCEEDED' AND j.sweep_id IN (",
               absl::StrJoin(marks, ","), ") ORDER BY j.job_id"));
  int i = 1;
  q.bind(i++, row_axis);
  q.bind(i++, col_axis);
  q.bind(i++, metric);
  q.bind(i++, row_axis);
  q.bind(i++, col_axis);
  for (const auto& [path, value] : filters) {
    q.bind(i++, path);
    q.bind(i++, value);
  }
  for (const std::string& id : sweep_ids) q.bind(i++, id);
  auto samples = std::make_shared<std::vector<MetricSample>>();
  while (q.executeStep()) {
    MetricSample s;
    s.sweep_id = q.getColumn(0).getString();
    if (!q.getColumn(1).isNull()) s.row = q.getColumn(1).getDouble();
    if (!q.getColumn(2).isNull()) s.col = q.getColumn(2).getDouble();
    s.value = q.getColumn(3).getDouble();
    s.parameter_count = q.getColumn(4).getInt64();
    s.job_id = q.getColumn(5).getInt64();
    s.spec_key = q.getColumn(6).getString();
    if (!q.getColumn(7).isNull()) s.other_axes = q.getColumn(7).getString();
    samples->push_back(std::move(s));
  }
  if (sample_cache_.size() >= kMaxCachedQueries) sample_cache_.clear();
  sample_cache_[key] = CachedSamples{std::move(generations), samples};
  return samples;
}

std::vector<ResultRow> ResultTable::List(const std::string& sweep_id,
                                         int64_t after_job_id, int limit) {
  SQLite::Statement q(db_,
                      "SELECT j.job_id, r.blob FROM jobs j JOIN results r "
                      "ON r.job_id=j.job_id WHERE j.sweep_id=? AND "
                      "j.job_id>? AND j.state='SUCCEEDED' ORDER BY j.job_id "
                      "LIMIT ?");
  q.bind(1, sweep_id);
  q.bind(2, after_job_id);
  q.bind(3, limit);
  std::vector<ResultRow> rows;
  while (q.executeStep()) {
    rows.push_back(
        {q.getColumn(0).getInt64(), {}, storage::Blob(q.getColumn(1))});
  }
  return rows;
}

int ResultTable::DeleteResults(const std::vector<int64_t>& job_ids) {
  // Metrics and curves first: they reference the result.
  ExecForEachJob(db_, "DELETE FROM result_metrics WHERE job_id=?", job_ids);
  ExecForEachJob(db_, "DELETE FROM curves WHERE job_id=?", job_ids);
  return ExecForEachJob(db_, "DELETE FROM results WHERE job_id=?", job_ids);
}

int ResultTable::DeleteJobs(const std::vector<int64_t>& job_ids,
                            const std::string& sweep_id) {
  ++sweep_generation_[sweep_id];  // cached samples are out of date
  return DeleteResults(job_ids);
}

std::vector<std::pair<int64_t, std::string>> ResultTable::DropByWorkerToken(
    const std::string& worker_token_name) {
  std::vector<std::pair<int64_t, std::string>> dropped;
  std::vector<int64_t> job_ids;
  {
    SQLite::Statement q(db_,
                        "SELECT r.job_id, j.sweep_id FROM results r JOIN jobs "
                        "j ON j.job_id=r.job_id WHERE r.worker_token_name=? "
                        "OR r.pretrain_token_name=?");
    q.bind(1, worker_token_name);
    q.bind(2, worker_token_name);
    while (q.executeStep()) {
      dropped.emplace_back(q.getColumn(0).getInt64(),
                           q.getColumn(1).getString());
      job_ids.push_back(dropped.back().first);
      ++sweep_generation_[dropped.back().second];  // cached samples are stale
    }
  }
  DeleteResults(job_ids);
  return dropped;
}

std::vector<std::string> ResultTable::MetricNames(
    const std::vector<std::string>& sweep_ids) {
  std::vector<std::string> marks(sweep_ids.size(), "?");
  SQLite::Statement q(
      db_, absl::StrCat("SELECT DISTINCT m.name FROM result_metrics m "
                        "JOIN jobs j ON j.job_id=m.job_id "
                        "WHERE j.state='SUCCEEDED' AND j.sweep_id IN (",
                        absl::StrJoin(marks, ","), ") ORDER BY m.name"));
  int i = 1;
  for (const std::string& id : sweep_ids) q.bind(i++, id);
  std::vector<std::string> names;
  while (q.executeStep()) names.push_back(q.getColumn(0).getString());
  return names;
}

}  // namespace forgetlab::storage
