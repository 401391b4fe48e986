// The store: opens the database, and runs each call on its table under the
// connection's lock, reads at once and writes through the group commit.
#include "storage/store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>

#include "absl/strings/str_cat.h"
#include "storage/artifact_table.h"
#include "storage/group_commit.h"
#include "storage/lease_table.h"
#include "storage/result_table.h"
#include "storage/schema.h"
#include "storage/sqlite_rows.h"
#include "storage/statement_cache.h"
#include "storage/sweep_table.h"
#include "storage/wal_checkpointer.h"
#include "storage/worker_table.h"

namespace forgetlab::storage {
namespace {

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int Store::SchemaVersion() { return CurrentSchemaVersion(); }

Store::Store(Options options, std::unique_ptr<SQLite::Database> db)
    : options_(std::move(options)), db_(std::move(db)) {
  statements_ = std::make_unique<StatementCache>(*db_);
  results_ = std::make_unique<ResultTable>(*db_, *statements_);
  sweeps_ = std::make_unique<SweepTable>(*db_, *statements_, *results_);
  workers_ = std::make_unique<WorkerTable>(*db_, *statements_);
  leases_ = std::make_unique<LeaseTable>(*db_, *statements_, *sweeps_,
                                         *workers_, *results_);
  artifacts_ = std::make_unique<ArtifactTable>(*db_);
  GroupCommitQueue::Options queue;
  queue.before_batch = options_.before_batch;
  // An undone write may have moved the earliest deadline in memory.
  queue.on_rollback = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    leases_->ForgetEarliestDeadline();  // the queue holds mutex_
  };
  writes_ = std::make_unique<GroupCommitQueue>(db_.get(), statements_.get(),
                                               &mutex_, std::move(queue));
}

Store::~Store() {
  if (writes_ != nullptr) writes_->Stop();  // the queued writes, answered
  // Unhooks the writer before the connection closes.
  checkpointer_.reset();
  // The statements before the connection, which, closed last, checkpoints
  // what is left and removes the WAL.
  absl::MutexLock lock(&mutex_);
  statements_.reset();
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(Options options) {
  if (!options.now_ms) options.now_ms = SystemNowMs;
  // Owner-only: the results, specs and worker names are nobody else's
  // business. SQLite gives -wal and -shm the database file's mode.
  if (const int fd = open(options.path.c_str(),
                          O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      fd >= 0) {
    fchmod(fd, 0600);
    close(fd);
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    chmod((options.path + suffix).c_str(), 0600);  // absent: nothing to do
  }
  std::unique_ptr<SQLite::Database> db;
  try {
    db = std::make_unique<SQLite::Database>(
        options.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(5000);
    db->exec("PRAGMA journal_mode=WAL");
    // In WAL mode NORMAL survives any process crash; only an OS crash or
    // power loss can drop the last commits (never corrupt the file).
    db->exec(options.synchronous_full ? "PRAGMA synchronous=FULL"
                                      : "PRAGMA synchronous=NORMAL");
    db->exec("PRAGMA foreign_keys=ON");
    // 64 MiB of pages in memory (SQLite's default is 2 MiB): the indexes a
    // lease and a result touch stay cached on a large database.
    db->exec("PRAGMA cache_size=-65536");
  } catch (const SQLite::Exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open database ", options.path, ": ", e.what(),
                     "; check that the folder exists and is writable"));
  }
  if (absl::Status s = Migrate(*db, options.path); !s.ok()) return s;
  sqlite3* writer = db->getHandle();
  RegisterOffersAll(writer);
  std::unique_ptr<Store> store(new Store(std::move(options), std::move(db)));
  absl::StatusOr<std::unique_ptr<WalCheckpointer>> checkpointer =
      WalCheckpointer::Start(
          {store->options_.path, store->options_.checkpoint_frames,
           store->options_.restart_frames},
          writer);
  if (!checkpointer.ok()) return checkpointer.status();
  store->checkpointer_ = *std::move(checkpointer);
  store->writes_->Start();
  return store;
}

template <typename F>
auto Store::Read(F&& body) -> decltype(body()) {
  absl::MutexLock lock(&mutex_);
  return Guarded(std::forward<F>(body));
}

// ---------------------------------------------------------------------------
// Sweeps and jobs.
// ---------------------------------------------------------------------------

absl::StatusOr<std::string> Store::CreateSweep(const NewSweep& sweep,
                                               bool* existing) {
  using Out = absl::StatusOr<std::string>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    return sweeps_->Create(sweep, Now(), existing);
  });
}

absl::StatusOr<Extension> Store::ExtendSweep(
    const std::string& sweep_id, const NewSweep& growth,
    const std::map<std::string, double>& new_axes, bool dry_run) {
  using Out = absl::StatusOr<Extension>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    return sweeps_->Extend(sweep_id, growth, new_axes, dry_run, Now());
  });
}

absl::StatusOr<SweepRow> Store::GetSweep(const std::string& sweep_id) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return sweeps_->Get(sweep_id);
  });
}

absl::StatusOr<std::string> Store::GetSweepSpec(const std::string& sweep_id) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return sweeps_->GetSpec(sweep_id);
  });
}

absl::StatusOr<std::vector<SweepRow>> Store::ListSweeps(
    int limit, const std::string& page_token, std::string* next_page_token) {
  // One sweep at a time, so that writes can go between them.
  std::string next;
  absl::StatusOr<std::vector<std::string>> ids =
      Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
               mutex_) -> absl::StatusOr<std::vector<std::string>> {
        return sweeps_->NewestIds(limit, page_token, &next);
      });
  if (!ids.ok()) return ids.status();
  if (next_page_token != nullptr) *next_page_token = next;
  std::vector<SweepRow> rows;
  for (const std::string& id : *ids) {
    absl::StatusOr<SweepRow> row = GetSweep(id);
    if (absl::IsNotFound(row.status())) continue;  // deleted meanwhile
    if (!row.ok()) return row.status();
    rows.push_back(*std::move(row));
  }
  return rows;
}

absl::StatusOr<std::vector<JobRow>> Store::ListJobs(
    const std::string& sweep_id, std::optional<JobState> state,
    int64_t after_job_id, int limit) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::vector<JobRow>> {
    return sweeps_->ListJobs(sweep_id, state, after_job_id, limit);
  });
}

absl::StatusOr<JobRow> Store::GetJob(int64_t job_id) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return sweeps_->GetJob(job_id);
  });
}

absl::StatusOr<CancelOutcome> Store::CancelSweep(
    const std::string& sweep_id, const std::vector<int64_t>& job_ids) {
  using Out = absl::StatusOr<CancelOutcome>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    return sweeps_->Cancel(sweep_id, job_ids, Now());
  });
}

absl::StatusOr<int> Store::RetrySweep(const std::string& sweep_id) {
  using Out = absl::StatusOr<int>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    return sweeps_->Retry(sweep_id, Now());
  });
}

absl::StatusOr<int> Store::CountCached(
    const std::vector<std::pair<std::string, std::string>>& keys_and_specs) {
  return Read([&]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::StatusOr<int> {
                    return sweeps_->CountCached(keys_and_specs);
                  });
}

absl::StatusOr<std::map<std::string, int64_t>> Store::CountJobsByState() {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::map<std::string, int64_t>> {
    return sweeps_->CountByState();
  });
}

// ---------------------------------------------------------------------------
// Leases.
// ---------------------------------------------------------------------------

absl::StatusOr<std::optional<Lease>> Store::LeaseJob(
    const std::string& worker_id, int64_t lease_ms,
    const std::vector<std::string>& held) {
  using Out = absl::StatusOr<std::optional<Lease>>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    absl::StatusOr<WorkerRow> worker = workers_->Read(worker_id);
    return leases_->Claim(worker_id, worker.ok() ? &*worker : nullptr, lease_ms,
                          Now(), held);
  });
}

void Store::TouchAndLease(
    const std::string& worker_id, const std::string& token_name,
    int64_t lease_ms, std::vector<std::string> held,
    std::function<void(absl::StatusOr<LeaseAttempt>)> done) {
  using Out = absl::StatusOr<LeaseAttempt>;
  writes_->Submit<Out>(
      [this, worker_id, token_name, lease_ms, held = std::move(held)]()
          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
            absl::StatusOr<WorkerRow> worker =
                workers_->ReadOwn(worker_id, token_name);
            if (!worker.ok()) return worker.status();
            LeaseAttempt out{*std::move(worker), std::nullopt};
            const int64_t now = Now();
            absl::StatusOr<std::optional<Lease>> lease =
                leases_->Claim(worker_id, &out.worker, lease_ms, now, held);
            if (!lease.ok()) return lease.status();
            out.lease = *std::move(lease);
            // Seen now, and idle unless Claim recorded its new job.
            out.worker.last_seen_ms = now;
            out.worker.current_job_id =
                out.lease.has_value() ? out.lease->job.job_id : 0;
            if (!out.lease.has_value()) workers_->SetJob(worker_id, 0, now);
            return out;
          },
      std::move(done));
}

void Store::Heartbeat(
    int64_t job_id, LeaseCredentials who, std::string phase, int64_t step,
    int64_t total_steps, int64_t lease_ms,
    std::function<void(absl::StatusOr<HeartbeatOutcome>)> done) {
  using Out = absl::StatusOr<HeartbeatOutcome>;
  writes_->Submit<Out>(
      [=]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
        return leases_->Heartbeat(job_id, who, phase, step, total_steps,
                                  lease_ms, Now());
      },
      std::move(done));
}

void Store::CompleteJob(int64_t job_id, LeaseCredentials who,
                        ResultRecord result, ResultCheck check,
                        std::function<void(absl::Status)> done) {
  writes_->Submit<absl::Status>(
      [this, job_id, who = std::move(who), result = std::move(result),
       check = std::move(check)]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return leases_->Complete(job_id, who, result, check, Now());
      },
      std::move(done));
}

void Store::FailJob(int64_t job_id, LeaseCredentials who, std::string error,
                    bool release, std::function<void(absl::Status)> done) {
  writes_->Submit<absl::Status>(
      [=]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return leases_->Fail(job_id, who, error, release, Now());
      },
      std::move(done));
}

absl::StatusOr<Store::Deletion> Store::DeleteSweep(
    const std::string& sweep_id) {
  using Out = absl::StatusOr<Deletion>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    absl::StatusOr<std::vector<int64_t>> ids =
        sweeps_->FinishedJobIds(sweep_id);
    if (!ids.ok()) return ids.status();
    Deletion out;
    // Results first: they reference the jobs.
    out.results = results_->DeleteJobs(*ids, sweep_id);
    sweeps_->Delete(sweep_id, *ids);
    out.jobs = static_cast<int>(ids->size());
    return out;
  });
}

absl::StatusOr<Store::Invalidation> Store::InvalidateResults(
    const std::string& worker_token_name) {
  using Out = absl::StatusOr<Invalidation>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    Invalidation out;
    const std::vector<std::pair<int64_t, std::string>> dropped =
        results_->DropByWorkerToken(worker_token_name);
    std::set<std::string> sweeps;
    for (const auto& [job_id, sweep_id] : dropped) {
      sweeps_->Requeue(job_id,
                       absl::StrCat("result invalidated: produced by a worker "
                                    "with token '",
                                    worker_token_name, "'"),
                       Now());
      sweeps.insert(sweep_id);
    }
    out.results = static_cast<int>(dropped.size());
    for (const ArtifactRow& a : artifacts_->List()) {
      if (a.worker_token_name != worker_token_name) continue;
      artifacts_->Delete(a.key);
      for (std::string& id :
           sweeps_->AwaitNewPretraining(a.key, Now()).sweep_ids) {
        sweeps.insert(std::move(id));
      }
      out.artifact_keys.push_back(a.key);
    }
    out.sweep_ids.assign(sweeps.begin(), sweeps.end());
    return out;
  });
}

absl::StatusOr<std::vector<std::string>> Store::ExpireLeases() {
  using Out = absl::StatusOr<std::vector<std::string>>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    return leases_->Expire(Now());
  });
}

absl::Status Store::ExtendLeases(int64_t min_deadline_ms) {
  return writes_->Run<absl::Status>(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::Status {
        leases_->ExtendAll(min_deadline_ms);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::optional<int64_t>> Store::NextDeadline() {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::optional<int64_t>> {
    return leases_->NextDeadline();
  });
}

int64_t Store::lease_expiries() const {
  return leases_->expiries();  // an atomic counter
}

int64_t Store::write_batches() const { return writes_->batches(); }
int64_t Store::writes() const { return writes_->writes(); }

// ---------------------------------------------------------------------------
// Results.
// ---------------------------------------------------------------------------

absl::StatusOr<std::string> Store::GetResultBlob(int64_t job_id) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return results_->Blob(job_id);
  });
}

absl::StatusOr<SampleSet> Store::MetricSamples(
    const std::vector<std::string>& sweep_ids, const std::string& metric,
    const std::string& row_axis, const std::string& col_axis,
    const std::vector<std::pair<std::string, double>>& filters) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<SampleSet> {
    return results_->Samples(sweep_ids, metric, row_axis, col_axis, filters);
  });
}

absl::StatusOr<std::vector<ResultRow>> Store::ListResults(
    const std::string& sweep_id, int64_t after_job_id, int limit) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::vector<ResultRow>> {
    std::vector<ResultRow> rows = results_->List(sweep_id, after_job_id, limit);
    sweeps_->LoadAxes(&rows);
    return rows;
  });
}

absl::StatusOr<std::vector<std::string>> Store::MetricNames(
    const std::vector<std::string>& sweep_ids) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::vector<std::string>> {
    return results_->MetricNames(sweep_ids);
  });
}

// ---------------------------------------------------------------------------
// Workers.
// ---------------------------------------------------------------------------

absl::StatusOr<std::string> Store::RegisterWorker(
    const std::string& host, const std::string& device, int threads,
    const std::vector<std::string>& datasets, const std::string& token_name,
    int max_per_token) {
  using Out = absl::StatusOr<std::string>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    const int64_t now = Now();
    workers_->Forget(now - kForgetWorkersAfterMs);
    if (workers_->Count(token_name) >= max_per_token) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "token '", token_name, "' already has ", max_per_token,
          " registered workers; a worker registers once and reuses its id "
          "(workers silent for an hour are forgotten)"));
    }
    return workers_->Register(host, device, threads, datasets, token_name, now);
  });
}

absl::StatusOr<WorkerRow> Store::TouchWorker(const std::string& worker_id,
                                             int64_t current_job_id) {
  using Out = absl::StatusOr<WorkerRow>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    absl::StatusOr<WorkerRow> worker = workers_->Read(worker_id);
    if (!worker.ok()) return worker;
    worker->current_job_id = current_job_id;
    worker->last_seen_ms = Now();
    workers_->SetJob(worker_id, current_job_id, worker->last_seen_ms);
    return worker;
  });
}

absl::StatusOr<std::vector<WorkerRow>> Store::ListWorkers() {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::vector<WorkerRow>> {
    return workers_->List();
  });
}

// ---------------------------------------------------------------------------
// Shared pretraining artifacts.
// ---------------------------------------------------------------------------

absl::StatusOr<JobRow> Store::PretrainingToUpload(int64_t job_id,
                                                  const LeaseCredentials& who) {
  return Read(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::StatusOr<JobRow> {
        absl::StatusOr<JobRow> job = leases_->Held(job_id, who);
        if (!job.ok()) return job;
        if (job->artifact_key.empty()) {
          return absl::FailedPreconditionError(
              absl::StrCat("job ", job_id,
                           " does not share its pretraining: it has no "
                           "artifact to upload"));
        }
        if (job->kind != kPretrainKind && artifacts_->Get(job->artifact_key)) {
          return absl::AlreadyExistsError(
              absl::StrCat("the pretraining artifact of job ", job_id,
                           " is stored already; it loads it"));
        }
        return job;
      });
}

absl::StatusOr<ArtifactOutcome> Store::StoreArtifact(
    int64_t job_id, const LeaseCredentials& who, ArtifactRow artifact) {
  using Out = absl::StatusOr<ArtifactOutcome>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    absl::StatusOr<JobRow> job = leases_->Held(job_id, who);
    if (!job.ok()) return job.status();
    if (job->artifact_key.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " does not share its pretraining"));
    }
    const bool experiment = job->kind != kPretrainKind;
    if (experiment && artifacts_->Get(job->artifact_key)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "the pretraining artifact of job ", job_id, " is stored already"));
    }
    const int64_t now = Now();
    artifact.key = job->artifact_key;
    artifact.worker_token_name = who.token_name;
    artifact.created_ms = artifact.last_used_ms = now;
    artifacts_->Put(artifact);
    // A pretraining job is done; an experiment that pretrained itself goes
    // on to fine-tune under its lease.
    if (!experiment) {
      if (absl::Status s = leases_->SucceedPretraining(job_id, who, now);
          !s.ok()) {
        return s;
      }
    }
    ArtifactOutcome out =
        sweeps_->ReleaseWaiters(job->artifact_key, false, now);
    out.sweep_ids.push_back(job->sweep_id);
    return out;
  });
}

absl::StatusOr<Store::Download> Store::ArtifactToDownload(
    int64_t job_id, const LeaseCredentials& who) {
  return Read(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::StatusOr<Download> {
        absl::StatusOr<JobRow> job = leases_->Held(job_id, who);
        if (!job.ok()) return job.status();
        if (job->kind == kPretrainKind || job->artifact_key.empty()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "job ", job_id, " loads no shared pretraining artifact"));
        }
        return Download{job->artifact_key, artifacts_->Get(job->artifact_key)};
      });
}

absl::Status Store::TouchArtifact(const std::string& key) {
  return writes_->Run<absl::Status>([&]()
                                        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
                                          artifacts_->Touch(key, Now());
                                          return absl::OkStatus();
                                        });
}

absl::StatusOr<ArtifactOutcome> Store::LoseArtifact(const std::string& key,
                                                    int64_t job_id,
                                                    const LeaseCredentials& who,
                                                    const std::string& why) {
  using Out = absl::StatusOr<ArtifactOutcome>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    const int64_t now = Now();
    std::string sweep_id;
    if (job_id != 0) {
      absl::StatusOr<JobRow> job = leases_->Held(job_id, who);
      if (!job.ok()) return job.status();
      if (job->artifact_key != key) {
        return absl::FailedPreconditionError(
            absl::StrCat("job ", job_id, " does not load artifact ", key));
      }
      if (absl::Status s = leases_->ReturnToWaiting(job_id, who, why, now);
          !s.ok()) {
        return s;
      }
      sweep_id = job->sweep_id;
    }
    artifacts_->Delete(key);
    ArtifactOutcome out = sweeps_->AwaitNewPretraining(key, now);
    if (!sweep_id.empty()) out.sweep_ids.push_back(sweep_id);
    return out;
  });
}

absl::StatusOr<std::vector<ArtifactRow>> Store::ListArtifacts() {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::vector<ArtifactRow>> {
    return artifacts_->List();
  });
}

absl::StatusOr<std::optional<ArtifactRow>> Store::GetArtifact(
    const std::string& key) {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::optional<ArtifactRow>> {
    return artifacts_->Get(key);
  });
}

absl::StatusOr<std::vector<ArtifactRow>> Store::EvictableArtifacts() {
  return Read([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                  mutex_) -> absl::StatusOr<std::vector<ArtifactRow>> {
    return artifacts_->Evictable();
  });
}

absl::StatusOr<bool> Store::EvictArtifact(const std::string& key) {
  using Out = absl::StatusOr<bool>;
  return writes_->Run<Out>([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> Out {
    for (const ArtifactRow& a : artifacts_->Evictable()) {
      if (a.key == key) return artifacts_->Delete(key);
    }
    return false;
  });
}

absl::StatusOr<int64_t> Store::ArtifactBytes() {
  return Read(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) -> absl::StatusOr<int64_t> {
        return artifacts_->TotalBytes();
      });
}

}  // namespace forgetlab::storage
