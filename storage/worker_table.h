// The workers table: who registered, what they offer, when they were last
// heard from and what they run.
#ifndef FORGETLAB_STORAGE_WORKER_TABLE_H_
#define FORGETLAB_STORAGE_WORKER_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/records.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace forgetlab::storage {

class StatementCache;

// Like every table, not thread-safe: the Store calls it on its one
// connection with its lock held, and SQLiteCpp's exceptions pass through.
class WorkerTable {
 public:
  WorkerTable(SQLite::Database& db, StatementCache& statements)
      : db_(db), statements_(statements) {}

  // Adds a worker and returns its new id.
  std::string Register(const std::string& host, const std::string& device,
                       int threads, const std::vector<std::string>& datasets,
                       const std::string& token_name, int64_t now);
  // The worker's row when `token_name` registered it; NOT_FOUND for an
  // unknown id, PERMISSION_DENIED for a worker of another token.
  absl::StatusOr<WorkerRow> ReadOwn(const std::string& worker_id,
                                    const std::string& token_name);
  // The registered worker's row; NOT_FOUND for an unknown id.
  absl::StatusOr<WorkerRow> Read(const std::string& worker_id);
  // Records a worker's current job (0: idle) and that it was seen at `now`.
  // Returns the number of workers updated (0 for an unknown id).
  int SetJob(const std::string& worker_id, int64_t job_id, int64_t now);
  // Marks the worker idle if it still runs `job_id` (its lease ran out).
  void ClearJob(const std::string& worker_id, int64_t job_id);
  // Most recently seen first.
  std::vector<WorkerRow> List();
  // Deletes workers last seen before `before_ms` that hold no job.
  void Forget(int64_t before_ms);
  // Workers registered with `token_name`.
  int Count(const std::string& token_name);

 private:
  SQLite::Database& db_;
  StatementCache& statements_;
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_WORKER_TABLE_H_
