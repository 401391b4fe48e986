// The artifacts table.
#include "storage/artifact_table.h"

#include <SQLiteCpp/SQLiteCpp.h>

namespace forgetlab::storage {
namespace {

constexpr char kColumns[] =
    "key, sha256, size_bytes, device, threads, worker_token_name, "
    "created_ms, last_used_ms";

ArtifactRow ReadArtifact(SQLite::Statement& q) {
  ArtifactRow a;
  a.key = q.getColumn(0).getString();
  a.sha256 = q.getColumn(1).getString();
  a.size_bytes = q.getColumn(2).getInt64();
  a.device = q.getColumn(3).getString();
  a.threads = q.getColumn(4).getInt();
  a.worker_token_name = q.getColumn(5).getString();
  a.created_ms = q.getColumn(6).getInt64();
  a.last_used_ms = q.getColumn(7).getInt64();
  return a;
}

// Jobs that will still run and need the artifact.
constexpr char kNeededBy[] =
    "(SELECT COUNT(*) FROM jobs j WHERE j.artifact_key=artifacts.key AND "
    "j.kind='experiment' AND j.state IN ('QUEUED','WAITING','LEASED'))";

}  // namespace

std::optional<ArtifactRow> ArtifactTable::Get(const std::string& key) {
  SQLite::Statement q(
      db_, std::string("SELECT ") + kColumns + " FROM artifacts WHERE key=?");
  q.bind(1, key);
  if (!q.executeStep()) return std::nullopt;
  return ReadArtifact(q);
}

void ArtifactTable::Put(const ArtifactRow& row) {
  SQLite::Statement q(db_, std::string("INSERT OR REPLACE INTO artifacts(") +
                               kColumns + ") VALUES(?,?,?,?,?,?,?,?)");
  q.bind(1, row.key);
  q.bind(2, row.sha256);
  q.bind(3, row.size_bytes);
  q.bind(4, row.device);
  q.bind(5, row.threads);
  q.bind(6, row.worker_token_name);
  q.bind(7, row.created_ms);
  q.bind(8, row.last_used_ms);
  q.exec();
}

bool ArtifactTable::Delete(const std::string& key) {
  SQLite::Statement q(db_, "DELETE FROM artifacts WHERE key=?");
  q.bind(1, key);
  return q.exec() > 0;
}

void ArtifactTable::Touch(const std::string& key, int64_t now) {
  SQLite::Statement q(db_, "UPDATE artifacts SET last_used_ms=? WHERE key=?");
  q.bind(1, now);
  q.bind(2, key);
  q.exec();
}

std::vector<ArtifactRow> ArtifactTable::List() {
  SQLite::Statement q(db_, std::string("SELECT ") + kColumns + ", " +
                               kNeededBy +
                               " FROM artifacts ORDER BY last_used_ms DESC");
  SQLite::Statement sweeps(db_,
                           "SELECT DISTINCT sweep_id FROM jobs WHERE "
                           "artifact_key=? LIMIT 100");
  std::vector<ArtifactRow> rows;
  while (q.executeStep()) {
    ArtifactRow a = ReadArtifact(q);
    a.needed_by = q.getColumn(8).getInt();
    sweeps.reset();
    sweeps.bind(1, a.key);
    while (sweeps.executeStep()) {
      a.sweep_ids.push_back(sweeps.getColumn(0).getString());
    }
    rows.push_back(std::move(a));
  }
  return rows;
}

std::vector<ArtifactRow> ArtifactTable::Evictable() {
  SQLite::Statement q(db_, std::string("SELECT ") + kColumns +
                               " FROM artifacts WHERE " + kNeededBy +
                               " = 0 ORDER BY last_used_ms, key");
  std::vector<ArtifactRow> rows;
  while (q.executeStep()) rows.push_back(ReadArtifact(q));
  return rows;
}

int64_t ArtifactTable::TotalBytes() {
  SQLite::Statement q(db_,
                      "SELECT COALESCE(SUM(size_bytes), 0) FROM artifacts");
  q.executeStep();
  return q.getColumn(0).getInt64();
}

}  // namespace forgetlab::storage
