// SQLite implementation of the scheduler's durable state.
#include "storage/store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <glog/logging.h>
#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"

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
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

constexpr char kJobColumns[] =
    "job_id, sweep_id, idx, spec, spec_key, state, attempt, max_attempts, "
    "worker_id, error, phase, step, total_steps, lease_token, deadline_ms, "
    "cancel_requested, updated_ms, cached, dataset, device_kind";

// At most this many writes share a transaction, so that the first of a long
// queue does not wait for all of it.
constexpr size_t kMaxBatch = 256;

// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class ImmediateTransaction {
 public:
  explicit ImmediateTransaction(SQLite::Database& db) : db_(db) {
    db_.exec("BEGIN IMMEDIATE");
  }
  ~ImmediateTransaction() {
    if (!committed_) {
      try {
        db_.exec("ROLLBACK");
      } catch (...) {
        // The connection is already out of the transaction.
      }
    }
  }
  void Commit() {
    db_.exec("COMMIT");
    committed_ = true;
  }

 private:
  SQLite::Database& db_;
  bool committed_ = false;
};

absl::Status FromSqlite(const SQLite::Exception& e) {
  const int code = e.getErrorCode() & 0xff;
  const std::string message = absl::StrCat("sqlite: ", e.what());
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return absl::UnavailableError(message);
  }
  if (code == SQLITE_FULL) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// Runs `body`, turning SQLiteCpp's exceptions into a status.
template <typename F>
auto Guarded(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    return FromSqlite(e);
  }
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
  return j;
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

// Datasets are stored as ",a,b," so that SQL can test membership with instr.
std::string JoinDatasets(const std::vector<std::string>& datasets) {
  return datasets.empty()
             ? ""
             : absl::StrCat(",", absl::StrJoin(datasets, ","), ",");
}

std::vector<std::string> SplitDatasets(const std::string& joined) {
  std::vector<std::string> out;
  for (absl::string_view d : absl::StrSplit(joined, ',', absl::SkipEmpty())) {
    out.emplace_back(d);
  }
  return out;
}

constexpr char kWorkerColumns[] =
    "worker_id, host, device, threads, current_job_id, last_seen_ms, datasets";

WorkerRow ReadWorker(SQLite::Statement& q) {
  WorkerRow w;
  w.worker_id = q.getColumn(0).getString();
  w.host = q.getColumn(1).getString();
  w.device = q.getColumn(2).getString();
  w.threads = q.getColumn(3).getInt();
  w.current_job_id = q.getColumn(4).getInt64();
  w.last_seen_ms = q.getColumn(5).getInt64();
  w.datasets = SplitDatasets(q.getColumn(6).getString());
  return w;
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "QUEUED";
    case JobState::kLeased:
      return "LEASED";
    case JobState::kSucceeded:
      return "SUCCEEDED";
    case JobState::kFailed:
      return "FAILED";
    case JobState::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

int Store::SchemaVersion() { return kSchemaVersion; }

Store::Store(Options options, std::unique_ptr<SQLite::Database> db)
    : options_(std::move(options)), db_(std::move(db)) {}

Store::~Store() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (committer_.joinable()) committer_.join();  // after the queued writes
  if (answerer_.joinable()) answerer_.join();    // after their answers
  {
    absl::MutexLock lock(&checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  if (checkpointer_.joinable()) checkpointer_.join();
  if (db_ != nullptr) sqlite3_wal_hook(db_->getHandle(), nullptr, nullptr);
  // The main connection, closed last, checkpoints what is left and removes
  // the WAL.
  checkpoint_db_.reset();
}

int Store::OnWalCommit(void* arg, sqlite3* db, const char* name, int frames) {
  Store* store = static_cast<Store*>(arg);
  bool finish_here = false;
  {
    absl::MutexLock lock(&store->checkpoint_mu_);
    if (frames < store->wal_frames_) {
      // The WAL started over from its beginning.
      store->checkpointed_frames_ = 0;
      store->restart_pending_ = false;
    }
    store->wal_frames_ = frames;
    if (frames >= store->options_.restart_frames) {
      // SQLite writes the WAL from its beginning again only when a write
      // finds all of it copied, which never happens while the checkpointer
      // copies and writes keep coming. So the checkpointer starts no new
      // round now, and the writer copies the rest itself, between two
      // writes, as soon as the checkpointer's current round is over: what
      // that round left (little, unless it fell behind) and two fsyncs.
      store->restart_pending_ = true;
      finish_here = !store->checkpointer_busy_;
    } else if (frames - store->checkpointed_frames_ >=
               store->options_.checkpoint_frames) {
      store->checkpoint_wanted_ = true;
    }
  }
  if (finish_here) {
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
  }
  return SQLITE_OK;
}

void Store::CheckpointLoop() {
  pthread_setname_np(pthread_self(), "store-checkpt");
  for (;;) {
    {
      absl::MutexLock lock(&checkpoint_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(checkpoint_mu_) {
        return (checkpoint_wanted_ && !restart_pending_) || checkpoint_stop_;
      };
      checkpoint_mu_.Await(absl::Condition(&ready));
      if (checkpoint_stop_) return;
      checkpoint_wanted_ = false;
      checkpointer_busy_ = true;
    }
    // PASSIVE: copy what no reader still needs, never waiting on the
    // writer.
    int log = 0, copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(checkpoint_db_->getHandle(), nullptr,
                                  SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      LOG_EVERY_N(WARNING, 100)
          << "checkpoint of " << options_.path
          << " failed: " << sqlite3_errmsg(checkpoint_db_->getHandle())
          << "; the writer will checkpoint at " << options_.restart_frames
          << " WAL frames";
    }
    absl::MutexLock lock(&checkpoint_mu_);
    checkpointer_busy_ = false;
    if (rc == SQLITE_OK) checkpointed_frames_ = copied;
  }
}

class Store::CachedStatement {
 public:
  explicit CachedStatement(SQLite::Statement* q) : q_(q) {}
  CachedStatement(const CachedStatement&) = delete;
  CachedStatement& operator=(const CachedStatement&) = delete;
  // Reset, so that a finished read holds no snapshot of the database.
  ~CachedStatement() { q_->tryReset(); }
  SQLite::Statement* operator->() const { return q_; }
  SQLite::Statement& operator*() const { return *q_; }

 private:
  SQLite::Statement* const q_;
};

Store::CachedStatement Store::Prepared(const std::string& sql) {
  std::unique_ptr<SQLite::Statement>& q = statements_[sql];
  if (q == nullptr) q = std::make_unique<SQLite::Statement>(*db_, sql);
  return CachedStatement(q.get());
}

namespace {

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace

template <typename R>
void Store::Submit(std::function<R()> body, std::function<void(R)> done) {
  auto result = std::make_shared<R>(absl::UnknownError("write not run"));
  Enqueue(PendingWrite{
      [body = std::move(body), result]() -> absl::Status {
        *result = Guarded(body);
        return StatusOf(*result);
      },
      [done = std::move(done), result](const absl::Status& outcome) {
        if (outcome.ok() || !StatusOf(*result).ok()) {
          done(std::move(*result));  // committed, or its own error
        } else {
          done(R(outcome));  // its transaction failed
        }
      }});
}

template <typename R>
R Store::Write(std::function<R()> body) {
  R result = absl::UnknownError("write not run");
  absl::Notification committed;
  Submit<R>(std::move(body), [&result, &committed](R r) {
    result = std::move(r);
    committed.Notify();
  });
  committed.WaitForNotification();
  return result;
}

void Store::Enqueue(PendingWrite write) {
  if (std::this_thread::get_id() == answerer_.get_id()) {
    // From a `done`: a blocking write waiting here for its own answer would
    // never get it, so run it now, alone.
    std::vector<PendingWrite> batch;
    batch.push_back(std::move(write));
    std::vector<absl::Status> statuses;
    {
      absl::MutexLock lock(&mutex_);
      RunBatch(&batch, &statuses);
    }
    batch.front().finish(statuses.front());
    return;
  }
  {
    absl::MutexLock lock(&queue_mu_);
    if (!stopping_) {
      queue_.push_back(std::move(write));
      return;
    }
  }
  write.finish(absl::UnavailableError("the store is closing"));
}

void Store::CommitLoop() {
  pthread_setname_np(pthread_self(), "store-commit");
  for (;;) {
    Answers answers;
    {
      absl::MutexLock lock(&queue_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return !queue_.empty() || stopping_;
      };
      queue_mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) break;  // stopping, and every write is done
      if (queue_.size() <= kMaxBatch) {
        answers.writes.swap(queue_);
      } else {
        answers.writes.assign(
            std::make_move_iterator(queue_.begin()),
            std::make_move_iterator(queue_.begin() + kMaxBatch));
        queue_.erase(queue_.begin(), queue_.begin() + kMaxBatch);
      }
    }
    if (options_.before_batch) options_.before_batch();
    {
      absl::MutexLock lock(&mutex_);
      RunBatch(&answers.writes, &answers.statuses);
    }
    // Answering (for the scheduler, sending each reply) takes about as long
    // as the batch did: another thread does it while the next batch runs.
    absl::MutexLock lock(&answer_mu_);
    answers_.push_back(std::move(answers));
  }
  absl::MutexLock lock(&answer_mu_);
  answers_done_ = true;
}

void Store::AnswerLoop() {
  pthread_setname_np(pthread_self(), "store-answer");
  for (;;) {
    std::deque<Answers> ready;
    {
      absl::MutexLock lock(&answer_mu_);
      auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(answer_mu_) {
        return !answers_.empty() || answers_done_;
      };
      answer_mu_.Await(absl::Condition(&any));
      if (answers_.empty()) return;
      ready.swap(answers_);
    }
    for (Answers& a : ready) {
      for (size_t i = 0; i < a.writes.size(); ++i) {
        a.writes[i].finish(a.statuses[i]);
      }
    }
  }
}

void Store::RunBatch(std::vector<PendingWrite>* batch,
                     std::vector<absl::Status>* statuses) {
  const size_t n = batch->size();
  statuses->assign(n, absl::OkStatus());
  auto exec = [this](const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return Guarded([&]() -> absl::Status {
      Prepared(sql)->exec();
      return absl::OkStatus();
    });
  };
  auto in_transaction = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return sqlite3_get_autocommit(db_->getHandle()) == 0;
  };
  // Marks writes [from, to) that succeeded as lost with the transaction.
  auto lose = [statuses](size_t from, size_t to, const absl::Status& why) {
    for (size_t j = from; j < to; ++j) {
      if ((*statuses)[j].ok()) {
        (*statuses)[j] = absl::Status(
            why.code(), absl::StrCat("not stored: the transaction it shared "
                                     "with other writes failed: ",
                                     why.message()));
      }
    }
  };
  size_t first = 0;  // the open transaction's first write
  absl::Status begun = exec("BEGIN IMMEDIATE");
  if (!begun.ok()) {
    lose(0, n, begun);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    absl::Status s = exec("SAVEPOINT write");
    if (s.ok()) s = (*batch)[i].run();
    if (s.ok()) {
      s = exec("RELEASE write");
    } else if (in_transaction()) {
      absl::Status undone = exec("ROLLBACK TO write");
      if (undone.ok()) undone = exec("RELEASE write");
      if (!undone.ok()) s = undone;
    }
    (*statuses)[i] = s;
    // An undone write may have moved the earliest deadline in memory.
    if (!s.ok()) earliest_deadline_ = 0;
    if (!in_transaction()) {
      // SQLite gave up the whole transaction (a full disk, an I/O error):
      // the earlier writes in it are gone as well. Go on in a new one.
      lose(first, i + 1, s);
      first = i + 1;
      if (first == n) break;
      begun = exec("BEGIN IMMEDIATE");
      if (!begun.ok()) {
        lose(first, n, begun);
        return;
      }
    }
  }
  if (in_transaction()) {
    absl::Status committed = exec("COMMIT");
    if (!committed.ok()) {
      if (in_transaction()) exec("ROLLBACK").IgnoreError();
      lose(first, n, committed);
      earliest_deadline_ = 0;
    }
  }
  write_batches_.fetch_add(1, std::memory_order_relaxed);
  writes_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(Options options) {
  if (!options.now_ms) options.now_ms = SystemNowMs;
  std::unique_ptr<SQLite::Database> db;
  try {
    db = std::make_unique<SQLite::Database>(
        options.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(5000);
    db->exec("PRAGMA journal_mode=WAL");
    // In WAL mode NORMAL survives any process crash; only an OS crash or
    // power loss can drop the last commits (never corrupt the file).
    db->exec("PRAGMA synchronous=NORMAL");
    db->exec("PRAGMA foreign_keys=ON");
    // 64 MiB of pages in memory (SQLite's default is 2 MiB): the indexes a
    // lease and a result touch stay cached on a large database.
    db->exec("PRAGMA cache_size=-65536");
  } catch (const SQLite::Exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open database ", options.path, ": ", e.what(),
                     "; check that the folder exists and is writable"));
  }
  std::unique_ptr<Store> store(new Store(std::move(options), std::move(db)));
  {
    absl::MutexLock lock(&store->mutex_);
    absl::Status s = store->Migrate();
    if (!s.ok()) return s;
  }
  // Checkpoints copy the WAL back into the database file, with two fsyncs.
  // Run by SQLite after a commit, they stall every write queued behind it
  // (the lease p99 doubled); a second connection does most of that work on
  // its own thread instead, concurrently with the writes (OnWalCommit).
  try {
    store->checkpoint_db_ = std::make_unique<SQLite::Database>(
        store->options_.path, SQLite::OPEN_READWRITE);
    store->checkpoint_db_->setBusyTimeout(5000);
    // Reads the header, so that this connection knows the file is in WAL
    // mode (until then its checkpoints do nothing).
    store->checkpoint_db_->exec("PRAGMA journal_mode=WAL");
  } catch (const SQLite::Exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open database ", store->options_.path,
                     " a second time for checkpoints: ", e.what()));
  }
  sqlite3_wal_hook(store->db_->getHandle(), &Store::OnWalCommit, store.get());
  store->checkpointer_ =
      std::thread([s = store.get()] { s->CheckpointLoop(); });
  store->answerer_ = std::thread([s = store.get()] { s->AnswerLoop(); });
  store->committer_ = std::thread([s = store.get()] { s->CommitLoop(); });
  return store;
}

absl::Status Store::Migrate() {
  return Guarded([&]() -> absl::Status {
    const int version = db_->execAndGet("PRAGMA user_version").getInt();
    if (version > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("database ", options_.path, " has schema version ",
                       version, " but this forgetlab knows versions up to ",
                       kSchemaVersion, "; run a newer forgetlab-server"));
    }
    for (int v = version; v < kSchemaVersion; ++v) {
      ImmediateTransaction txn(*db_);
      db_->exec(kMigrations[v]);
      db_->exec(absl::StrCat("PRAGMA user_version=", v + 1));
      txn.Commit();
    }
    return absl::OkStatus();
  });
}

absl::Status Store::RequireSweepLocked(const std::string& sweep_id) {
  SQLite::Statement q(*db_, "SELECT 1 FROM sweeps WHERE sweep_id=?");
  q.bind(1, sweep_id);
  if (q.executeStep()) return absl::OkStatus();
  return absl::NotFoundError(
      absl::StrCat("no sweep '", sweep_id, "'; `forgetlab sweeps` lists them"));
}

void Store::EndLeaseLocked(int64_t job_id, const char* state,
                           const std::string& error, int attempt, int64_t now) {
  CachedStatement q = Prepared(
      "UPDATE jobs SET state=?, error=?, attempt=?, "
      "worker_id=CASE WHEN ?='QUEUED' THEN '' ELSE worker_id "
      "END, deadline_ms=0, updated_ms=? WHERE job_id=?");
  q->bind(1, state);
  q->bind(2, error);
  q->bind(3, attempt);
  q->bind(4, state);
  q->bind(5, now);
  q->bind(6, job_id);
  q->exec();
}

void Store::EndAttemptLocked(int64_t token, int64_t now, const char* outcome,
                             const std::string& error) {
  CachedStatement q = Prepared(
      "UPDATE attempts SET ended_ms=?, outcome=?, error=? "
      "WHERE token=?");
  q->bind(1, now);
  q->bind(2, outcome);
  q->bind(3, error);
  q->bind(4, token);
  q->exec();
}

int Store::SetWorkerJobLocked(const std::string& worker_id, int64_t job_id,
                              int64_t now) {
  CachedStatement q = Prepared(
      "UPDATE workers SET current_job_id=?, last_seen_ms=? "
      "WHERE worker_id=?");
  q->bind(1, job_id);
  q->bind(2, now);
  q->bind(3, worker_id);
  return q->exec();
}

absl::StatusOr<std::string> Store::CreateSweep(const NewSweep& sweep,
                                               bool* existing) {
  return Write<absl::StatusOr<std::string>>(
      [&]() -> absl::StatusOr<std::string> {
        *existing = false;
        if (!sweep.request_id.empty()) {
          SQLite::Statement q(*db_,
                              "SELECT sweep_id FROM sweeps WHERE request_id=?");
          q.bind(1, sweep.request_id);
          if (q.executeStep()) {
            *existing = true;
            return q.getColumn(0).getString();
          }
        }
        const std::string sweep_id = RandomId("sw-", 10);
        const int64_t now = Now();
        {
          SQLite::Statement q(
              *db_,
              "INSERT INTO sweeps(sweep_id, name, spec, request_id, "
              "priority, max_attempts, owner, created_ms) "
              "VALUES(?,?,?,?,?,?,?,?)");
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
          q.exec();
        }
        SQLite::Statement insert_job(
            *db_,
            "INSERT INTO jobs(sweep_id, idx, spec, spec_key, state, priority, "
            "max_attempts, updated_ms, dataset, device_kind) "
            "VALUES(?,?,?,?,'QUEUED',?,?,?,?,?)");
        SQLite::Statement insert_axis(
            *db_, "INSERT INTO job_axes(job_id, axis, value) VALUES(?,?,?)");
        // The cache: an identical spec (key and bytes) that already succeeded.
        SQLite::Statement find_cached(
            *db_,
            "SELECT job_id FROM jobs WHERE spec_key=? AND "
            "state='SUCCEEDED' AND spec=? LIMIT 1");
        for (size_t i = 0; i < sweep.jobs.size(); ++i) {
          const NewJob& job = sweep.jobs[i];
          insert_job.reset();
          insert_job.bind(1, sweep_id);
          insert_job.bind(2, static_cast<int>(i));
          BindBlob(insert_job, 3, job.spec);
          insert_job.bind(4, job.spec_key);
          insert_job.bind(5, sweep.priority);
          insert_job.bind(6, sweep.max_attempts);
          insert_job.bind(7, now);
          insert_job.bind(8, job.dataset);
          insert_job.bind(9, sweep.device_kind);
          insert_job.exec();
          const int64_t job_id = db_->getLastInsertRowid();
          if (sweep.use_cache) {
            find_cached.reset();
            find_cached.bind(1, job.spec_key);
            BindBlob(find_cached, 2, job.spec);
            if (find_cached.executeStep()) {
              CopyResultLocked(find_cached.getColumn(0).getInt64(), job_id,
                               now);
            }
          }
          for (const auto& [axis, value] : job.axis_values) {
            insert_axis.reset();
            insert_axis.bind(1, job_id);
            insert_axis.bind(2, axis);
            insert_axis.bind(3, value);
            insert_axis.exec();
          }
        }
        return sweep_id;
      });
}

void Store::CopyResultLocked(int64_t from_job, int64_t to_job, int64_t now) {
  {
    SQLite::Statement q(*db_,
                        "INSERT INTO results(job_id, parameter_count, device, "
                        "total_seconds, accuracy_matrix, blob, created_ms) "
                        "SELECT ?, parameter_count, device, total_seconds, "
                        "accuracy_matrix, blob, ? FROM results WHERE job_id=?");
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
    SQLite::Statement q(*db_, sql);
    q.bind(1, to_job);
    q.bind(2, from_job);
    q.exec();
  }
  SQLite::Statement u(*db_,
                      "UPDATE jobs SET state='SUCCEEDED', cached=1, "
                      "updated_ms=? WHERE job_id=?");
  u.bind(1, now);
  u.bind(2, to_job);
  u.exec();
}

absl::StatusOr<std::string> Store::GetSweepSpec(const std::string& sweep_id) {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<std::string> {
    SQLite::Statement q(*db_, "SELECT spec FROM sweeps WHERE sweep_id=?");
    q.bind(1, sweep_id);
    if (!q.executeStep()) {
      return absl::NotFoundError(absl::StrCat(
          "no sweep '", sweep_id, "'; `forgetlab sweeps` lists them"));
    }
    return Blob(q.getColumn(0));
  });
}

absl::StatusOr<SweepRow> Store::GetSweep(const std::string& sweep_id) {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<SweepRow> {
    SQLite::Statement q(
        *db_,
        "SELECT sweep_id, name, spec, owner, priority, "
        "max_attempts, created_ms FROM sweeps WHERE sweep_id=?");
    q.bind(1, sweep_id);
    if (!q.executeStep()) {
      return absl::NotFoundError(absl::StrCat(
          "no sweep '", sweep_id, "'; `forgetlab sweeps` lists them"));
    }
    SweepRow row;
    row.sweep_id = q.getColumn(0).getString();
    row.name = q.getColumn(1).getString();
    row.spec = Blob(q.getColumn(2));
    row.owner = q.getColumn(3).getString();
    row.priority = q.getColumn(4).getInt();
    row.max_attempts = q.getColumn(5).getInt();
    row.created_ms = q.getColumn(6).getInt64();
    SQLite::Statement counts(*db_,
                             "SELECT state, COUNT(*), SUM(cached) FROM jobs "
                             "WHERE sweep_id=? GROUP BY state");
    counts.bind(1, sweep_id);
    while (counts.executeStep()) {
      const int n = counts.getColumn(1).getInt();
      row.counts[static_cast<int>(
          ParseState(counts.getColumn(0).getString()))] = n;
      row.total += n;
      row.cached += counts.getColumn(2).getInt();
    }
    return row;
  });
}

absl::StatusOr<std::vector<SweepRow>> Store::ListSweeps(int limit) {
  std::vector<std::string> ids;
  {
    absl::MutexLock lock(&mutex_);
    absl::Status s = Guarded([&]() -> absl::Status {
      SQLite::Statement q(*db_,
                          "SELECT sweep_id FROM sweeps ORDER BY created_ms "
                          "DESC, rowid DESC LIMIT ?");
      q.bind(1, limit);
      while (q.executeStep()) ids.push_back(q.getColumn(0).getString());
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  std::vector<SweepRow> rows;
  for (const std::string& id : ids) {
    absl::StatusOr<SweepRow> row = GetSweep(id);
    if (!row.ok()) return row.status();
    rows.push_back(*std::move(row));
  }
  return rows;
}

void Store::LoadAxes(std::vector<JobRow>* jobs) {
  if (jobs->empty()) return;
  std::unordered_map<int64_t, JobRow*> by_id;
  int64_t low = jobs->front().job_id, high = low;
  for (JobRow& j : *jobs) {
    by_id[j.job_id] = &j;
    low = std::min(low, j.job_id);
    high = std::max(high, j.job_id);
  }
  CachedStatement q = Prepared(
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

absl::StatusOr<std::vector<JobRow>> Store::ListJobs(
    const std::string& sweep_id, std::optional<JobState> state,
    int64_t after_job_id, int limit) {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<std::vector<JobRow>> {
    std::string sql = absl::StrCat("SELECT ", kJobColumns,
                                   " FROM jobs WHERE sweep_id=? AND job_id>?");
    if (state.has_value()) absl::StrAppend(&sql, " AND state=?");
    absl::StrAppend(&sql, " ORDER BY job_id LIMIT ?");
    SQLite::Statement q(*db_, sql);
    int i = 1;
    q.bind(i++, sweep_id);
    q.bind(i++, after_job_id);
    if (state.has_value()) q.bind(i++, JobStateName(*state));
    q.bind(i++, limit);
    std::vector<JobRow> jobs;
    while (q.executeStep()) jobs.push_back(ReadJob(q));
    LoadAxes(&jobs);
    return jobs;
  });
}

absl::StatusOr<JobRow> Store::ReadJobLocked(int64_t job_id) {
  static const std::string* const kSql = new std::string(
      absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE job_id=?"));
  CachedStatement q = Prepared(*kSql);
  q->bind(1, job_id);
  if (!q->executeStep()) {
    return absl::NotFoundError(absl::StrCat("no job ", job_id));
  }
  return ReadJob(*q);
}

absl::StatusOr<JobRow> Store::GetJobLocked(int64_t job_id) {
  absl::StatusOr<JobRow> job = ReadJobLocked(job_id);
  if (!job.ok()) return job;
  std::vector<JobRow> jobs = {*std::move(job)};
  LoadAxes(&jobs);
  return std::move(jobs.front());
}

absl::StatusOr<JobRow> Store::GetJob(int64_t job_id) {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() { return GetJobLocked(job_id); });
}

std::vector<std::string> Store::ExpireLocked(int64_t now) {
  struct Expired {
    int64_t job_id, token;
    std::string sweep_id, worker_id;
    int attempt, max_attempts;
    bool cancel;
  };
  std::vector<Expired> expired;
  int64_t earliest = std::numeric_limits<int64_t>::max();
  {
    // Every lease (the index on state finds them; their deadlines are in
    // the rows), to learn the earliest deadline that stays.
    CachedStatement q = Prepared(
        "SELECT job_id, lease_token, sweep_id, worker_id, attempt, "
        "max_attempts, cancel_requested, deadline_ms FROM jobs "
        "WHERE state='LEASED'");
    while (q->executeStep()) {
      const int64_t deadline = q->getColumn(7).getInt64();
      if (deadline >= now) {
        earliest = std::min(earliest, deadline);
        continue;
      }
      expired.push_back({q->getColumn(0).getInt64(), q->getColumn(1).getInt64(),
                         q->getColumn(2).getString(),
                         q->getColumn(3).getString(), q->getColumn(4).getInt(),
                         q->getColumn(5).getInt(),
                         q->getColumn(6).getInt() != 0});
    }
  }
  earliest_deadline_ = earliest;
  std::vector<std::string> sweeps;
  for (const Expired& e : expired) {
    const std::string error = absl::StrCat(
        "attempt ", e.attempt, " of ", e.max_attempts,
        ": lease expired (worker ", e.worker_id, " stopped heartbeating)");
    const char* next = e.cancel                      ? "CANCELLED"
                       : e.attempt >= e.max_attempts ? "FAILED"
                                                     : "QUEUED";
    EndLeaseLocked(e.job_id, next,
                   e.cancel ? std::string("cancelled by user") : error,
                   e.attempt, now);
    EndAttemptLocked(e.token, now, "EXPIRED", error);
    CachedStatement w = Prepared(
        "UPDATE workers SET current_job_id=0 WHERE worker_id=? "
        "AND current_job_id=?");
    w->bind(1, e.worker_id);
    w->bind(2, e.job_id);
    w->exec();
    sweeps.push_back(e.sweep_id);
  }
  lease_expiries_.fetch_add(static_cast<int64_t>(expired.size()),
                            std::memory_order_relaxed);
  return sweeps;
}

absl::StatusOr<std::vector<std::string>> Store::ExpireLeases() {
  using Sweeps = absl::StatusOr<std::vector<std::string>>;
  return Write<Sweeps>([&]() -> Sweeps { return ExpireLocked(Now()); });
}

absl::Status Store::ExtendLeases(int64_t min_deadline_ms) {
  return Write<absl::Status>([&]() -> absl::Status {
    SQLite::Statement q(*db_,
                        "UPDATE jobs SET deadline_ms=? WHERE state='LEASED' "
                        "AND deadline_ms<?");
    q.bind(1, min_deadline_ms);
    q.bind(2, min_deadline_ms);
    q.exec();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<int64_t>> Store::NextDeadline() {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<std::optional<int64_t>> {
    SQLite::Statement q(
        *db_, "SELECT MIN(deadline_ms) FROM jobs WHERE state='LEASED'");
    if (q.executeStep() && !q.getColumn(0).isNull()) {
      return std::optional<int64_t>(q.getColumn(0).getInt64());
    }
    return std::optional<int64_t>();
  });
}

absl::StatusOr<std::optional<Lease>> Store::LeaseJob(
    const std::string& worker_id, int64_t lease_ms) {
  using Out = absl::StatusOr<std::optional<Lease>>;
  return Write<Out>(
      [&]() -> Out { return LeaseJobLocked(worker_id, lease_ms); });
}

void Store::TouchAndLease(
    const std::string& worker_id, int64_t lease_ms,
    std::function<void(absl::StatusOr<LeaseAttempt>)> done) {
  using Out = absl::StatusOr<LeaseAttempt>;
  Submit<Out>(
      [this, worker_id, lease_ms]() -> Out {
        absl::StatusOr<WorkerRow> worker = ReadWorkerLocked(worker_id);
        if (!worker.ok()) return worker.status();
        LeaseAttempt out{*std::move(worker), std::nullopt};
        absl::StatusOr<std::optional<Lease>> lease =
            LeaseJobLocked(worker_id, lease_ms, &out.worker);
        if (!lease.ok()) return lease.status();
        out.lease = *std::move(lease);
        // Seen now, and idle unless LeaseJobLocked recorded its new job.
        out.worker.last_seen_ms = Now();
        out.worker.current_job_id =
            out.lease.has_value() ? out.lease->job.job_id : 0;
        if (!out.lease.has_value()) {
          SetWorkerJobLocked(worker_id, 0, out.worker.last_seen_ms);
        }
        return out;
      },
      std::move(done));
}

absl::StatusOr<std::optional<Lease>> Store::LeaseJobLocked(
    const std::string& worker_id, int64_t lease_ms, const WorkerRow* worker) {
  const int64_t now = Now();
  // Expire overdue leases first, so that their jobs can go out now; skip
  // the scan while no deadline can have passed.
  if (now > earliest_deadline_) ExpireLocked(now);
  int64_t job_id = 0;
  int attempt = 0;
  {
    // What the worker offers. An unregistered id, or one that declared no
    // datasets, is not filtered on them.
    absl::StatusOr<WorkerRow> read;
    if (worker == nullptr) {
      read = ReadWorkerLocked(worker_id);
      if (read.ok()) worker = &*read;
    }
    const bool registered = worker != nullptr;
    std::string device_kind, datasets;
    if (registered) {
      device_kind = worker->device.substr(0, worker->device.find(':'));
      datasets = JoinDatasets(worker->datasets);
    }
    CachedStatement q = Prepared(
        "SELECT job_id, attempt FROM jobs WHERE state='QUEUED' AND "
        "(?=0 OR ((device_kind='' OR device_kind=?) AND "
        "(?='' OR dataset='' OR instr(?, ','||dataset||',')>0))) "
        "ORDER BY priority DESC, job_id LIMIT 1");
    q->bind(1, registered ? 1 : 0);
    q->bind(2, device_kind);
    q->bind(3, datasets);
    q->bind(4, datasets);
    if (!q->executeStep()) {
      return std::optional<Lease>();  // the expiries are kept
    }
    job_id = q->getColumn(0).getInt64();
    attempt = q->getColumn(1).getInt() + 1;
  }
  CachedStatement a = Prepared(
      "INSERT INTO attempts(job_id, attempt, worker_id, "
      "started_ms) VALUES(?,?,?,?)");
  a->bind(1, job_id);
  a->bind(2, attempt);
  a->bind(3, worker_id);
  a->bind(4, now);
  a->exec();
  const int64_t token = db_->getLastInsertRowid();
  const int64_t deadline = now + lease_ms;
  earliest_deadline_ = std::min(earliest_deadline_, deadline);
  CachedStatement u = Prepared(
      "UPDATE jobs SET state='LEASED', attempt=?, worker_id=?, "
      "lease_token=?, deadline_ms=?, phase='', step=0, "
      "total_steps=0, updated_ms=? WHERE job_id=?");
  u->bind(1, attempt);
  u->bind(2, worker_id);
  u->bind(3, token);
  u->bind(4, deadline);
  u->bind(5, now);
  u->bind(6, job_id);
  u->exec();
  SetWorkerJobLocked(worker_id, job_id, now);
  absl::StatusOr<JobRow> job = GetJobLocked(job_id);
  if (!job.ok()) return job.status();
  return std::optional<Lease>(Lease{*std::move(job), token, deadline});
}

namespace {

absl::Status StaleToken(const JobRow& job, int64_t token) {
  return absl::AbortedError(absl::StrCat(
      "job ", job.job_id, ": lease token ", token,
      " is not the current lease (job is ", JobStateName(job.state),
      job.state == JobState::kLeased
          ? absl::StrCat(" under token ", job.lease_token)
          : std::string(),
      "); drop this attempt"));
}

}  // namespace

absl::StatusOr<HeartbeatOutcome> Store::Heartbeat(int64_t job_id, int64_t token,
                                                  const std::string& phase,
                                                  int64_t step,
                                                  int64_t total_steps,
                                                  int64_t lease_ms) {
  using Out = absl::StatusOr<HeartbeatOutcome>;
  return Write<Out>([&]() -> Out {
    return HeartbeatLocked(job_id, token, phase, step, total_steps, lease_ms);
  });
}

void Store::Heartbeat(
    int64_t job_id, int64_t token, std::string phase, int64_t step,
    int64_t total_steps, int64_t lease_ms,
    std::function<void(absl::StatusOr<HeartbeatOutcome>)> done) {
  using Out = absl::StatusOr<HeartbeatOutcome>;
  Submit<Out>(
      [=]() -> Out {
        return HeartbeatLocked(job_id, token, phase, step, total_steps,
                               lease_ms);
      },
      std::move(done));
}

absl::StatusOr<HeartbeatOutcome> Store::HeartbeatLocked(
    int64_t job_id, int64_t token, const std::string& phase, int64_t step,
    int64_t total_steps, int64_t lease_ms) {
  absl::StatusOr<JobRow> job = ReadJobLocked(job_id);
  if (!job.ok()) return job.status();
  if (job->state != JobState::kLeased || job->lease_token != token) {
    return StaleToken(*job, token);
  }
  const int64_t now = Now();
  HeartbeatOutcome out{now + lease_ms, job->cancel_requested};
  CachedStatement u = Prepared(
      "UPDATE jobs SET deadline_ms=?, phase=?, step=?, "
      "total_steps=?, updated_ms=? WHERE job_id=?");
  u->bind(1, out.deadline_ms);
  u->bind(2, phase);
  u->bind(3, step);
  u->bind(4, total_steps);
  u->bind(5, now);
  u->bind(6, job_id);
  u->exec();
  SetWorkerJobLocked(job->worker_id, job_id, now);
  return out;
}

absl::Status Store::CompleteJob(int64_t job_id, int64_t token,
                                const ResultRecord& result,
                                const ResultCheck& check) {
  return Write<absl::Status>([&]() -> absl::Status {
    return CompleteJobLocked(job_id, token, result, check);
  });
}

void Store::CompleteJob(int64_t job_id, int64_t token, ResultRecord result,
                        ResultCheck check,
                        std::function<void(absl::Status)> done) {
  Submit<absl::Status>(
      [this, job_id, token, result = std::move(result),
       check = std::move(check)]() -> absl::Status {
        return CompleteJobLocked(job_id, token, result, check);
      },
      std::move(done));
}

absl::Status Store::CompleteJobLocked(int64_t job_id, int64_t token,
                                      const ResultRecord& result,
                                      const ResultCheck& check) {
  absl::StatusOr<JobRow> job = ReadJobLocked(job_id);
  if (!job.ok()) return job.status();
  if (job->state == JobState::kSucceeded && job->lease_token == token) {
    return absl::OkStatus();  // a retried CompleteJob: already stored
  }
  if (job->state != JobState::kLeased || job->lease_token != token) {
    return StaleToken(*job, token);
  }
  if (check) {
    if (absl::Status s = check(*job); !s.ok()) return s;
  }
  ++sweep_generation_[job->sweep_id];  // cached samples are out of date
  const int64_t now = Now();
  {
    CachedStatement q = Prepared(
        "INSERT INTO results(job_id, parameter_count, device, "
        "total_seconds, accuracy_matrix, blob, created_ms) "
        "VALUES(?,?,?,?,?,?,?)");
    q->bind(1, job_id);
    q->bind(2, result.parameter_count);
    q->bind(3, result.device);
    q->bind(4, result.total_seconds);
    q->bind(5, MatrixText(result.accuracy_matrix));
    BindBlob(*q, 6, result.blob);
    q->bind(7, now);
    q->exec();
  }
  CachedStatement m = Prepared(
      "INSERT INTO result_metrics(job_id, name, value) "
      "VALUES(?,?,?)");
  for (const auto& [name, value] : result.metrics) {
    m->reset();
    m->bind(1, job_id);
    m->bind(2, name);
    m->bind(3, value);
    m->exec();
  }
  CachedStatement c = Prepared(
      "INSERT OR REPLACE INTO curves(job_id, stage, step, "
      "task, accuracy) VALUES(?,?,?,?,?)");
  for (const CurveSample& p : result.curves) {
    c->reset();
    c->bind(1, job_id);
    c->bind(2, p.stage);
    c->bind(3, p.step);
    c->bind(4, p.task);
    c->bind(5, p.accuracy);
    c->exec();
  }
  CachedStatement u = Prepared(
      "UPDATE jobs SET state='SUCCEEDED', error='', "
      "deadline_ms=0, phase='done', step=total_steps, "
      "updated_ms=? "
      "WHERE job_id=?");
  u->bind(1, now);
  u->bind(2, job_id);
  u->exec();
  EndAttemptLocked(token, now, "SUCCEEDED", "");
  SetWorkerJobLocked(job->worker_id, 0, now);
  return absl::OkStatus();
}

absl::Status Store::FailJob(int64_t job_id, int64_t token,
                            const std::string& error, bool release) {
  return Write<absl::Status>([&]() -> absl::Status {
    return FailJobLocked(job_id, token, error, release);
  });
}

void Store::FailJob(int64_t job_id, int64_t token, std::string error,
                    bool release, std::function<void(absl::Status)> done) {
  Submit<absl::Status>(
      [=]() -> absl::Status {
        return FailJobLocked(job_id, token, error, release);
      },
      std::move(done));
}

absl::Status Store::FailJobLocked(int64_t job_id, int64_t token,
                                  const std::string& error, bool release) {
  absl::StatusOr<JobRow> job = ReadJobLocked(job_id);
  if (!job.ok()) return job.status();
  if (job->state != JobState::kLeased || job->lease_token != token) {
    return StaleToken(*job, token);
  }
  const int64_t now = Now();
  const char* next;
  std::string message = error;
  int attempt = job->attempt;
  if (job->cancel_requested) {
    next = "CANCELLED";
    message = "cancelled by user";
  } else if (release) {
    next = "QUEUED";
    attempt -= 1;  // an attempt handed back untried does not count
    message = "";
  } else {
    next = "FAILED";
  }
  EndLeaseLocked(job_id, next, message, attempt, now);
  EndAttemptLocked(token, now, release ? "RELEASED" : "FAILED", error);
  SetWorkerJobLocked(job->worker_id, 0, now);
  return absl::OkStatus();
}

absl::StatusOr<CancelOutcome> Store::CancelSweep(
    const std::string& sweep_id, const std::vector<int64_t>& job_ids) {
  return Write<absl::StatusOr<CancelOutcome>>(
      [&]() -> absl::StatusOr<CancelOutcome> {
        if (absl::Status s = RequireSweepLocked(sweep_id); !s.ok()) return s;
        std::vector<int64_t> ids = job_ids;
        if (ids.empty()) {
          SQLite::Statement q(*db_, "SELECT job_id FROM jobs WHERE sweep_id=?");
          q.bind(1, sweep_id);
          while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
        }
        const int64_t now = Now();
        CancelOutcome out;
        SQLite::Statement exists(
            *db_, "SELECT 1 FROM jobs WHERE job_id=? AND sweep_id=?");
        SQLite::Statement queued(*db_,
                                 "UPDATE jobs SET state='CANCELLED', "
                                 "error='cancelled by user', updated_ms=? "
                                 "WHERE job_id=? AND state='QUEUED'");
        SQLite::Statement leased(
            *db_,
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
          out.cancelled += queued.exec();
          out.stopping += leased.exec();
        }
        return out;
      });
}

absl::StatusOr<int> Store::RetrySweep(const std::string& sweep_id) {
  return Write<absl::StatusOr<int>>([&]() -> absl::StatusOr<int> {
    if (absl::Status s = RequireSweepLocked(sweep_id); !s.ok()) return s;
    SQLite::Statement q(*db_,
                        "UPDATE jobs SET state='QUEUED', attempt=0, error='', "
                        "worker_id='', cancel_requested=0, phase='', step=0, "
                        "total_steps=0, updated_ms=? WHERE sweep_id=? AND "
                        "state IN ('FAILED','CANCELLED')");
    q.bind(1, Now());
    q.bind(2, sweep_id);
    return q.exec();
  });
}

absl::StatusOr<std::string> Store::GetResultBlob(int64_t job_id) {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<std::string> {
    SQLite::Statement q(*db_, "SELECT blob FROM results WHERE job_id=?");
    q.bind(1, job_id);
    if (!q.executeStep()) {
      return absl::NotFoundError(
          absl::StrCat("job ", job_id, " has no result"));
    }
    return Blob(q.getColumn(0));
  });
}

absl::StatusOr<std::vector<MetricSample>> Store::MetricSamples(
    const std::vector<std::string>& sweep_ids, const std::string& metric,
    const std::string& row_axis, const std::string& col_axis,
    const std::vector<std::pair<std::string, double>>& filters) {
  absl::MutexLock lock(&mutex_);
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
  absl::StatusOr<std::vector<MetricSample>> samples =
      Guarded([&]() -> absl::StatusOr<std::vector<MetricSample>> {
        std::vector<std::string> marks(sweep_ids.size(), "?");
        std::string filter_joins;
        for (size_t f = 0; f < filters.size(); ++f) {
          absl::StrAppend(&filter_joins, "JOIN job_axes f", f, " ON f", f,
                          ".job_id=j.job_id AND f", f, ".axis=? AND f", f,
                          ".value=? ");
        }
        SQLite::Statement q(
            *db_,
            absl::StrCat(
                "SELECT j.sweep_id, ra.value, ca.value, m.value, "
                "r.parameter_count "
                "FROM jobs j "
                "JOIN result_metrics m ON m.job_id=j.job_id AND m.name=? "
                "JOIN results r ON r.job_id=j.job_id "
                "LEFT JOIN job_axes ra ON ra.job_id=j.job_id AND ra.axis=? "
                "LEFT JOIN job_axes ca ON ca.job_id=j.job_id AND ca.axis=? ",
                filter_joins, "WHERE j.state='SUCCEEDED' AND j.sweep_id IN (",
                absl::StrJoin(marks, ","), ") ORDER BY j.job_id"));
        int i = 1;
        q.bind(i++, metric);
        q.bind(i++, row_axis);
        q.bind(i++, col_axis);
        for (const auto& [path, value] : filters) {
          q.bind(i++, path);
          q.bind(i++, value);
        }
        for (const std::string& id : sweep_ids) q.bind(i++, id);
        std::vector<MetricSample> samples;
        while (q.executeStep()) {
          MetricSample s;
          s.sweep_id = q.getColumn(0).getString();
          if (!q.getColumn(1).isNull()) s.row = q.getColumn(1).getDouble();
          if (!q.getColumn(2).isNull()) s.col = q.getColumn(2).getDouble();
          s.value = q.getColumn(3).getDouble();
          s.parameter_count = q.getColumn(4).getInt64();
          samples.push_back(s);
        }
        return samples;
      });
  if (samples.ok()) {
    if (sample_cache_.size() >= 16) sample_cache_.clear();  // bound memory
    sample_cache_[key] = CachedSamples{std::move(generations), *samples};
  }
  return samples;
}

absl::StatusOr<int> Store::CountCached(
    const std::vector<std::pair<std::string, std::string>>& keys_and_specs) {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<int> {
    SQLite::Statement q(*db_,
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
  });
}

absl::StatusOr<std::vector<Store::ResultRow>> Store::ListResults(
    const std::string& sweep_id, int64_t after_job_id, int limit) {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<std::vector<ResultRow>> {
    SQLite::Statement q(*db_,
                        "SELECT j.job_id, r.blob FROM jobs j JOIN results r "
                        "ON r.job_id=j.job_id WHERE j.sweep_id=? AND "
                        "j.job_id>? AND j.state='SUCCEEDED' ORDER BY j.job_id "
                        "LIMIT ?");
    q.bind(1, sweep_id);
    q.bind(2, after_job_id);
    q.bind(3, limit);
    std::vector<JobRow> jobs;
    std::vector<ResultRow> rows;
    while (q.executeStep()) {
      JobRow j;
      j.job_id = q.getColumn(0).getInt64();
      jobs.push_back(j);
      rows.push_back({j.job_id, {}, Blob(q.getColumn(1))});
    }
    LoadAxes(&jobs);
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i].axis_values = std::move(jobs[i].axis_values);
    }
    return rows;
  });
}

absl::StatusOr<std::vector<std::string>> Store::MetricNames(
    const std::vector<std::string>& sweep_ids) {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> marks(sweep_ids.size(), "?");
    SQLite::Statement q(
        *db_, absl::StrCat("SELECT DISTINCT m.name FROM result_metrics m "
                           "JOIN jobs j ON j.job_id=m.job_id "
                           "WHERE j.state='SUCCEEDED' AND j.sweep_id IN (",
                           absl::StrJoin(marks, ","), ") ORDER BY m.name"));
    int i = 1;
    for (const std::string& id : sweep_ids) q.bind(i++, id);
    std::vector<std::string> names;
    while (q.executeStep()) names.push_back(q.getColumn(0).getString());
    return names;
  });
}

absl::StatusOr<std::string> Store::RegisterWorker(
    const std::string& host, const std::string& device, int threads,
    const std::vector<std::string>& datasets) {
  return Write<absl::StatusOr<std::string>>(
      [&]() -> absl::StatusOr<std::string> {
        const std::string id = RandomId("w-", 8);
        const int64_t now = Now();
        SQLite::Statement q(
            *db_,
            "INSERT INTO workers(worker_id, host, device, threads, "
            "registered_ms, last_seen_ms, datasets) "
            "VALUES(?,?,?,?,?,?,?)");
        q.bind(1, id);
        q.bind(2, host);
        q.bind(3, device);
        q.bind(4, threads);
        q.bind(5, now);
        q.bind(6, now);
        q.bind(7, JoinDatasets(datasets));
        q.exec();
        return id;
      });
}

absl::StatusOr<WorkerRow> Store::TouchWorker(const std::string& worker_id,
                                             int64_t current_job_id) {
  using Out = absl::StatusOr<WorkerRow>;
  return Write<Out>(
      [&]() -> Out { return TouchWorkerLocked(worker_id, current_job_id); });
}

absl::StatusOr<WorkerRow> Store::ReadWorkerLocked(
    const std::string& worker_id) {
  static const std::string* const kSql = new std::string(absl::StrCat(
      "SELECT ", kWorkerColumns, " FROM workers WHERE worker_id=?"));
  CachedStatement q = Prepared(*kSql);
  q->bind(1, worker_id);
  if (!q->executeStep()) {
    return absl::NotFoundError(
        absl::StrCat("unknown worker '", worker_id, "'; register again"));
  }
  return ReadWorker(*q);
}

absl::StatusOr<WorkerRow> Store::TouchWorkerLocked(const std::string& worker_id,
                                                   int64_t current_job_id) {
  absl::StatusOr<WorkerRow> worker = ReadWorkerLocked(worker_id);
  if (!worker.ok()) return worker;
  worker->current_job_id = current_job_id;
  worker->last_seen_ms = Now();
  SetWorkerJobLocked(worker_id, current_job_id, worker->last_seen_ms);
  return worker;
}

absl::StatusOr<std::vector<WorkerRow>> Store::ListWorkers() {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<std::vector<WorkerRow>> {
    SQLite::Statement q(*db_, absl::StrCat("SELECT ", kWorkerColumns,
                                           " FROM workers ORDER BY "
                                           "last_seen_ms DESC"));
    std::vector<WorkerRow> rows;
    while (q.executeStep()) rows.push_back(ReadWorker(q));
    return rows;
  });
}

absl::StatusOr<std::map<std::string, int64_t>> Store::CountJobsByState() {
  absl::MutexLock lock(&mutex_);
  return Guarded([&]() -> absl::StatusOr<std::map<std::string, int64_t>> {
    SQLite::Statement q(*db_,
                        "SELECT state, COUNT(*) FROM jobs GROUP BY state");
    std::map<std::string, int64_t> counts;
    while (q.executeStep()) {
      counts[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
    }
    return counts;
  });
}

}  // namespace forgetlab::storage
