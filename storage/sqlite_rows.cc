// SQLite row helpers.
#include "storage/sqlite_rows.h"

#include <sqlite3.h>
#include <sys/random.h>

#include <cstdint>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace forgetlab::storage {

absl::Status FromSqlite(const SQLite::Exception& e) {
  const int code = e.getErrorCode() & 0xff;
  const std::string message = absl::StrCat("sqlite: ", e.what());
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return absl::UnavailableError(message);
  }
  if (code == SQLITE_FULL) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

ImmediateTransaction::ImmediateTransaction(SQLite::Database& db) : db_(db) {
  db_.exec("BEGIN IMMEDIATE");
}

ImmediateTransaction::~ImmediateTransaction() {
  if (committed_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (...) {
    // The connection is already out of the transaction.
  }
}

void ImmediateTransaction::Commit() {
  db_.exec("COMMIT");
  committed_ = true;
}

std::string Blob(const SQLite::Column& column) {
  return std::string(static_cast<const char*>(column.getBlob()),
                     static_cast<size_t>(column.getBytes()));
}

void BindBlob(SQLite::Statement& q, int index, const std::string& bytes) {
  q.bind(index, bytes.data(), static_cast<int>(bytes.size()));
}

JobState ParseState(const std::string& name) {
  if (name == "LEASED") return JobState::kLeased;
  if (name == "SUCCEEDED") return JobState::kSucceeded;
  if (name == "FAILED") return JobState::kFailed;
  if (name == "CANCELLED") return JobState::kCancelled;
  if (name == "WAITING") return JobState::kWaiting;
  return JobState::kQueued;
}

JobRow ReadJob(SQLite::Statement& q) {
  JobRow j;
  j.job_id = q.getColumn(0).getInt64();
  j.sweep_id = q.getColumn(1).getString();
  j.index = q.getColumn(2).getInt();
  j.spec = Blob(q.getColumn(3));
  j.spec_key = q.getColumn(4).getString();
  j.state = ParseState(q.getColumn(5).getString());
  j.attempt = q.getColumn(6).getInt();
  j.max_attempts = q.getColumn(7).getInt();
  j.worker_id = q.getColumn(8).getString();
  j.error = q.getColumn(9).getString();
  j.phase = q.getColumn(10).getString();
  j.step = q.getColumn(11).getInt64();
  j.total_steps = q.getColumn(12).getInt64();
  j.lease_token = q.getColumn(13).getInt64();
  j.deadline_ms = q.getColumn(14).getInt64();
  j.cancel_requested = q.getColumn(15).getInt() != 0;
  j.updated_ms = q.getColumn(16).getInt64();
  j.cached = q.getColumn(17).getInt() != 0;
  j.dataset = q.getColumn(18).getString();
  j.device_kind = q.getColumn(19).getString();
  j.lease_key = q.getColumn(20).getString();
  j.kind = q.getColumn(21).getString();
  j.artifact_key = q.getColumn(22).getString();
  return j;
}

WorkerRow ReadWorker(SQLite::Statement& q) {
  WorkerRow w;
  w.worker_id = q.getColumn(0).getString();
  w.host = q.getColumn(1).getString();
  w.device = q.getColumn(2).getString();
  w.threads = q.getColumn(3).getInt();
  w.current_job_id = q.getColumn(4).getInt64();
  w.last_seen_ms = q.getColumn(5).getInt64();
  w.datasets = SplitDatasets(q.getColumn(6).getString());
  w.token_name = q.getColumn(7).getString();
  return w;
}

int ExecForEachJob(SQLite::Database& db, const char* sql,
                   const std::vector<int64_t>& job_ids) {
  SQLite::Statement q(db, sql);
  int changed = 0;
  for (int64_t id : job_ids) {
    q.reset();
    q.bind(1, id);
    changed += q.exec();
  }
  return changed;
}

std::string JoinDatasets(const std::vector<std::string>& datasets) {
  return datasets.empty()
             ? ""
             : absl::StrCat(",", absl::StrJoin(datasets, ","), ",");
}

bool OffersAll(absl::string_view offered, absl::string_view needed) {
  for (absl::string_view d : absl::StrSplit(needed, ',', absl::SkipEmpty())) {
    if (!absl::StrContains(offered, absl::StrCat(",", d, ","))) return false;
  }
  return true;
}

void RegisterOffersAll(sqlite3* db) {
  sqlite3_create_function(
      db, "offers_all", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
      [](sqlite3_context* context, int, sqlite3_value** args) {
        auto text = [](sqlite3_value* v) {
          const unsigned char* t = sqlite3_value_text(v);
          return absl::string_view(reinterpret_cast<const char*>(t),
                                   t == nullptr ? 0 : sqlite3_value_bytes(v));
        };
        sqlite3_result_int(context, OffersAll(text(args[0]), text(args[1])));
      },
      nullptr, nullptr);
}

std::vector<std::string> SplitDatasets(const std::string& joined) {
  std::vector<std::string> out;
  for (absl::string_view d : absl::StrSplit(joined, ',', absl::SkipEmpty())) {
    out.emplace_back(d);
  }
  return out;
}

std::string MatrixText(const std::vector<std::vector<double>>& matrix) {
  std::vector<std::string> rows;
  for (const auto& row : matrix) {
    rows.push_back(absl::StrCat("[", absl::StrJoin(row, ","), "]"));
  }
  return absl::StrCat("[", absl::StrJoin(rows, ","), "]");
}

std::string RandomId(const char* prefix, int hex_digits) {
  static std::mt19937_64* rng = new std::mt19937_64(std::random_device{}());
  static const char kHex[] = "0123456789abcdef";
  std::string id = prefix;
  uint64_t bits = (*rng)();
  for (int i = 0; i < hex_digits; ++i, bits >>= 4) id += kHex[bits & 15];
  return id;
}

std::string SecretHex(int bytes) {
  std::vector<unsigned char> buffer(static_cast<size_t>(bytes));
  size_t got = 0;
  while (got < buffer.size()) {
    const ssize_t n = getrandom(buffer.data() + got, buffer.size() - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buffer) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace forgetlab::storage
