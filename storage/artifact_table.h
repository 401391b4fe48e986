// The artifacts table: shared pretraining artifacts the server stores (their
// bytes live in its artifact folder; this is what it knows of them).
#ifndef FORGETLAB_STORAGE_ARTIFACT_TABLE_H_
#define FORGETLAB_STORAGE_ARTIFACT_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/records.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace forgetlab::storage {

// Not thread-safe: see WorkerTable.
class ArtifactTable {
 public:
  explicit ArtifactTable(SQLite::Database& db) : db_(db) {}

  std::optional<ArtifactRow> Get(const std::string& key);
  // Stores `row`, replacing an artifact of the same key.
  void Put(const ArtifactRow& row);
  // False when there was none.
  bool Delete(const std::string& key);
  void Touch(const std::string& key, int64_t now);
  // Every artifact with the sweeps that use it and the live jobs that need
  // it, most recently used first.
  std::vector<ArtifactRow> List();
  // Artifacts no queued, waiting or leased job needs, least recently used
  // first: what eviction may take.
  std::vector<ArtifactRow> Evictable();
  int64_t TotalBytes();

 private:
  SQLite::Database& db_;
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_ARTIFACT_TABLE_H_
