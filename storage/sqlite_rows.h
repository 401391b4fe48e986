// SQLite row helpers shared by the tables: exceptions to statuses, blobs,
// a transaction guard, reading job and worker rows, and new row ids.
#ifndef FORGETLAB_STORAGE_SQLITE_ROWS_H_
#define FORGETLAB_STORAGE_SQLITE_ROWS_H_

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/records.h"

namespace forgetlab::storage {

// UNAVAILABLE for a busy or locked database, RESOURCE_EXHAUSTED for a full
// disk, INTERNAL otherwise; the message names SQLite's error.
absl::Status FromSqlite(const SQLite::Exception& e);

// Runs `body`, turning SQLiteCpp's exceptions into a status. `body` returns
// absl::Status or absl::StatusOr<T>.
template <typename F>
auto Guarded(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    return FromSqlite(e);
  }
}

// The status part of absl::Status or absl::StatusOr<T>.
inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class ImmediateTransaction {
 public:
  explicit ImmediateTransaction(SQLite::Database& db);
  ~ImmediateTransaction();
  ImmediateTransaction(const ImmediateTransaction&) = delete;
  ImmediateTransaction& operator=(const ImmediateTransaction&) = delete;
  void Commit();

 private:
  SQLite::Database& db_;
  bool committed_ = false;
};

std::string Blob(const SQLite::Column& column);
void BindBlob(SQLite::Statement& q, int index, const std::string& bytes);

// The jobs table's state column ("QUEUED", ...).
JobState ParseState(const std::string& name);

// The columns ReadJob reads, in its order.
inline constexpr char kJobColumns[] =
    "job_id, sweep_id, idx, spec, spec_key, state, attempt, max_attempts, "
    "worker_id, error, phase, step, total_steps, lease_token, deadline_ms, "
    "cancel_requested, updated_ms, cached, dataset, device_kind, lease_key, "
    "kind, artifact_key";
// A job from a row of kJobColumns, without its axis values.
JobRow ReadJob(SQLite::Statement& q);

inline constexpr char kWorkerColumns[] =
    "worker_id, host, device, threads, current_job_id, last_seen_ms, datasets, "
    "token_name";
WorkerRow ReadWorker(SQLite::Statement& q);

// `bytes` bytes from the kernel's CSPRNG as hex: lease keys.
std::string SecretHex(int bytes);

// Whether two secrets are equal, in time that does not depend on where they
// differ. False for empty secrets.
bool SameSecret(const std::string& a, const std::string& b);

// Datasets are stored as ",a,b," so that SQL can test membership with instr.
// Runs `sql`, with one `?` for a job id, once per id in `job_ids`; returns
// the rows it changed in all.
int ExecForEachJob(SQLite::Database& db, const char* sql,
                   const std::vector<int64_t>& job_ids);

std::string JoinDatasets(const std::vector<std::string>& datasets);
std::vector<std::string> SplitDatasets(const std::string& joined);

// Whether a worker that offers `offered` (JoinDatasets form, ",a,b,") can
// run a job that needs `needed` (comma-separated, e.g. "text:prose,text:code":
// every one of them).
bool OffersAll(absl::string_view offered, absl::string_view needed);

// Registers OffersAll as the SQL function offers_all(offered, needed).
void RegisterOffersAll(sqlite3* db);

// An accuracy matrix as JSON text, "[[0.9,0.1],[0.5,0.8]]".
std::string MatrixText(const std::vector<std::vector<double>>& matrix);

// `prefix` and `hex_digits` random hex digits: ids of new sweeps and workers.
std::string RandomId(const char* prefix, int hex_digits);

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_SQLITE_ROWS_H_
