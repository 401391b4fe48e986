// The database schema: forward migrations, one per version, applied in
// order when a store opens. The version is PRAGMA user_version.
#ifndef FORGETLAB_STORAGE_SCHEMA_H_
#define FORGETLAB_STORAGE_SCHEMA_H_

#include <string>

#include "absl/status/status.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace forgetlab::storage {

// The schema version this build writes.
int CurrentSchemaVersion();

// Moves `db` (the file at `path`, for messages) to the current schema, one
// migration per transaction. FAILED_PRECONDITION when the file was written
// by a newer forgetlab; it is left untouched then.
absl::Status Migrate(SQLite::Database& db, const std::string& path);

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_SCHEMA_H_
