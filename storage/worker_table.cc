// The workers table.
#include "storage/worker_table.h"

#include "absl/strings/str_cat.h"
#include "storage/sqlite_rows.h"
#include "storage/statement_cache.h"

namespace forgetlab::storage {

std::string WorkerTable::Register(const std::string& host,
                                  const std::string& device, int threads,
                                  const std::vector<std::string>& datasets,
                                  const std::string& token_name, int64_t now) {
  const std::string id = RandomId("w-", 8);
  SQLite::Statement q(db_,
                      "INSERT INTO workers(worker_id, host, device, threads, "
                      "registered_ms, last_seen_ms, datasets, token_name) "
                      "VALUES(?,?,?,?,?,?,?,?)");
  q.bind(1, id);
  q.bind(2, host);
  q.bind(3, device);
  q.bind(4, threads);
  q.bind(5, now);
  q.bind(6, now);
  q.bind(7, JoinDatasets(datasets));
  q.bind(8, token_name);
  q.exec();
  return id;
}

absl::StatusOr<WorkerRow> WorkerTable::ReadOwn(const std::string& worker_id,
                                               const std::string& token_name) {
  absl::StatusOr<WorkerRow> worker = Read(worker_id);
  if (!worker.ok()) return worker;
  if (worker->token_name != token_name) {
    return absl::PermissionDeniedError(
        "this worker id was registered with another token; a worker calls "
        "with the token it registered with");
  }
  return worker;
}

absl::StatusOr<WorkerRow> WorkerTable::Read(const std::string& worker_id) {
  static const std::string* const kSql = new std::string(absl::StrCat(
      "SELECT ", kWorkerColumns, " FROM workers WHERE worker_id=?"));
  StatementCache::Use q = statements_.Prepared(*kSql);
  q->bind(1, worker_id);
  if (!q->executeStep()) {
    return absl::NotFoundError(
        absl::StrCat("unknown worker '", worker_id, "'; register again"));
  }
  return ReadWorker(*q);
}

int WorkerTable::SetJob(const std::string& worker_id, int64_t job_id,
                        int64_t now) {
  StatementCache::Use q = statements_.Prepared(
      "UPDATE workers SET current_job_id=?, last_seen_ms=? "
      "WHERE worker_id=?");
  q->bind(1, job_id);
  q->bind(2, now);
  q->bind(3, worker_id);
  return q->exec();
}

void WorkerTable::ClearJob(const std::string& worker_id, int64_t job_id) {
  StatementCache::Use q = statements_.Prepared(
      "UPDATE workers SET current_job_id=0 WHERE worker_id=? "
      "AND current_job_id=?");
  q->bind(1, worker_id);
  q->bind(2, job_id);
  q->exec();
}

void WorkerTable::Forget(int64_t before_ms) {
  StatementCache::Use q = statements_.Prepared(
      "DELETE FROM workers WHERE last_seen_ms<? AND current_job_id=0");
  q->bind(1, before_ms);
  q->exec();
}

int WorkerTable::Count(const std::string& token_name) {
  StatementCache::Use q =
      statements_.Prepared("SELECT COUNT(*) FROM workers WHERE token_name=?");
  q->bind(1, token_name);
  q->executeStep();
  return q->getColumn(0).getInt();
}

std::vector<WorkerRow> WorkerTable::List() {
  SQLite::Statement q(db_, absl::StrCat("SELECT ", kWorkerColumns,
                                        " FROM workers ORDER BY "
                                        "last_seen_ms DESC"));
  std::vector<WorkerRow> rows;
  while (q.executeStep()) rows.push_back(ReadWorker(q));
  return rows;
}

}  // namespace forgetlab::storage
