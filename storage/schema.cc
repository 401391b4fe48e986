// The schema's migrations.
#include "storage/schema.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include "absl/strings/str_cat.h"
#include "storage/sqlite_rows.h"

namespace forgetlab::storage {
namespace {

// Forward migrations: entry i moves user_version from i to i + 1.
const char* const kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE sweeps(
  sweep_id     TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  spec         BLOB NOT NULL,
  request_id   TEXT UNIQUE,
  priority     INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  owner        TEXT NOT NULL DEFAULT '',
  created_ms   INTEGER NOT NULL
);
CREATE TABLE jobs(
  job_id           INTEGER PRIMARY KEY AUTOINCREMENT,
  sweep_id         TEXT NOT NULL REFERENCES sweeps(sweep_id),
  idx              INTEGER NOT NULL,
  spec             BLOB NOT NULL,
  spec_key         TEXT NOT NULL,
  state            TEXT NOT NULL,
  priority         INTEGER NOT NULL,
  attempt          INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL,
  worker_id        TEXT NOT NULL DEFAULT '',
  error            TEXT NOT NULL DEFAULT '',
  phase            TEXT NOT NULL DEFAULT '',
  step             INTEGER NOT NULL DEFAULT 0,
  total_steps      INTEGER NOT NULL DEFAULT 0,
  lease_token      INTEGER NOT NULL DEFAULT 0,
  deadline_ms      INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  cached           INTEGER NOT NULL DEFAULT 0,
  updated_ms       INTEGER NOT NULL,
  UNIQUE(sweep_id, idx)
);
CREATE INDEX jobs_queue ON jobs(state, priority DESC, job_id);
CREATE INDEX jobs_by_sweep ON jobs(sweep_id, state);
CREATE INDEX jobs_by_key ON jobs(spec_key, state);
CREATE TABLE job_axes(
  job_id INTEGER NOT NULL REFERENCES jobs(job_id),
  axis   TEXT NOT NULL,
  value  REAL NOT NULL,
  PRIMARY KEY(job_id, axis)
) WITHOUT ROWID;
CREATE TABLE attempts(
  token      INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id     INTEGER NOT NULL REFERENCES jobs(job_id),
  attempt    INTEGER NOT NULL,
  worker_id  TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  ended_ms   INTEGER,
  outcome    TEXT,
  error      TEXT
);
CREATE INDEX attempts_by_job ON attempts(job_id);
CREATE TABLE results(
  job_id          INTEGER PRIMARY KEY REFERENCES jobs(job_id),
  parameter_count INTEGER NOT NULL,
  device          TEXT NOT NULL,
  total_seconds   REAL NOT NULL,
  accuracy_matrix TEXT NOT NULL,
  blob            BLOB NOT NULL,
  created_ms      INTEGER NOT NULL
);
CREATE TABLE result_metrics(
  job_id INTEGER NOT NULL REFERENCES results(job_id),
  name   TEXT NOT NULL,
  value  REAL NOT NULL,
  PRIMARY KEY(job_id, name)
) WITHOUT ROWID;
CREATE INDEX result_metrics_by_name ON result_metrics(name, job_id);
CREATE TABLE curves(
  job_id   INTEGER NOT NULL REFERENCES results(job_id),
  stage    INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  task     INTEGER NOT NULL,
  accuracy REAL NOT NULL,
  PRIMARY KEY(job_id, stage, step, task)
) WITHOUT ROWID;
CREATE TABLE workers(
  worker_id      TEXT PRIMARY KEY,
  host           TEXT NOT NULL,
  device         TEXT NOT NULL,
  threads        INTEGER NOT NULL,
  registered_ms  INTEGER NOT NULL,
  last_seen_ms   INTEGER NOT NULL,
  current_job_id INTEGER NOT NULL DEFAULT 0
);
)sql",
    // 1 -> 2: what a job needs from a worker, and what a worker offers.
    R"sql(
ALTER TABLE jobs ADD COLUMN dataset TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN device_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN datasets TEXT NOT NULL DEFAULT '';
)sql",
    // 2 -> 3: pages of a sweep's jobs in job order without sorting the sweep
    // (ListJobs and ListResults on 100,000-job sweeps).
    R"sql(
CREATE INDEX IF NOT EXISTS jobs_by_sweep_order ON jobs(sweep_id, job_id);
)sql",
    // 3 -> 4: the result cache finds a spec by its key alone. With the state
    // in the index, every lease and result moved the job's entry, a write to
    // a random page of it (spec keys are hashes). And a sweep's counts by
    // state (GetSweep) come from its index alone, `cached` included: half
    // the time on a 100,000-job sweep.
    R"sql(
DROP INDEX IF EXISTS jobs_by_key;
CREATE INDEX IF NOT EXISTS jobs_by_spec_key ON jobs(spec_key);
DROP INDEX IF EXISTS jobs_by_sweep;
CREATE INDEX jobs_by_sweep ON jobs(sweep_id, state, cached);
)sql",
    // 4 -> 5: leases are secrets bound to a worker, and a worker to the
    // token that registered it; a result remembers that token, so one
    // worker's results can be dropped (InvalidateResults).
    R"sql(
ALTER TABLE jobs ADD COLUMN lease_key TEXT NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN token_name TEXT NOT NULL DEFAULT '';
ALTER TABLE results ADD COLUMN worker_token_name TEXT NOT NULL DEFAULT '';
CREATE INDEX results_by_worker_token ON results(worker_token_name);
ALTER TABLE sweeps ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
    // 5 -> 6: shared pretraining. A job is an experiment or a pretraining
    // job; an experiment may wait (state WAITING) for the artifact with its
    // pretraining key, which a pretraining job of the same key makes.
    R"sql(
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'experiment';
ALTER TABLE jobs ADD COLUMN artifact_key TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_artifact ON jobs(artifact_key, state)
  WHERE artifact_key != '';
-- The token whose artifact a result's job loaded (NULL: none), so that
-- InvalidateResults drops what a bad token's weights produced.
ALTER TABLE results ADD COLUMN pretrain_token_name TEXT;
CREATE INDEX results_by_pretrain_token ON results(pretrain_token_name)
  WHERE pretrain_token_name IS NOT NULL;
CREATE TABLE artifacts(
  key               TEXT PRIMARY KEY,
  sha256            TEXT NOT NULL,
  size_bytes        INTEGER NOT NULL,
  device            TEXT NOT NULL,
  threads           INTEGER NOT NULL,
  worker_token_name TEXT NOT NULL,
  created_ms        INTEGER NOT NULL,
  last_used_ms      INTEGER NOT NULL
);
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

}  // namespace

int CurrentSchemaVersion() { return kSchemaVersion; }

absl::Status Migrate(SQLite::Database& db, const std::string& path) {
  return Guarded([&]() -> absl::Status {
    const int version = db.execAndGet("PRAGMA user_version").getInt();
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("database ", path, " has schema version ", version,
                       " but this forgetlab knows versions up to ",
                       kSchemaVersion, "; run a newer forgetlab-server"));
    }
    for (int v = version; v < kSchemaVersion; ++v) {
      ImmediateTransaction txn(db);
      db.exec(kMigrations[v]);
      db.exec(absl::StrCat("PRAGMA user_version=", v + 1));
      txn.Commit();
    }
    return absl::OkStatus();
  });
}

}  // namespace forgetlab::storage
