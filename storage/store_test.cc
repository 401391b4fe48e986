#include "storage/store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "storage/database_lock.h"
#include "tests/fixtures.h"

namespace forgetlab::storage {
namespace {

using ::testing::HasSubstr;

// A store on `path` whose clock reads *now.
absl::StatusOr<std::unique_ptr<Store>> OpenWithClock(const std::string& path,
                                                     const int64_t* now) {
  Store::Options options;
  options.path = path;
  options.now_ms = [now] { return *now; };
  return Store::Open(options);
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // The asynchronous writes, waited for.
  absl::StatusOr<HeartbeatOutcome> HeartbeatNow(
      int64_t job_id, const LeaseCredentials& who, const std::string& phase,
      int64_t step, int64_t total_steps, int64_t lease_ms) {
    return fixtures::Await<absl::StatusOr<HeartbeatOutcome>>([&](auto done) {
      store_->Heartbeat(job_id, who, phase, step, total_steps, lease_ms, done);
    });
  }
  absl::Status CompleteNow(int64_t job_id, const LeaseCredentials& who,
                           const ResultRecord& result) {
    return fixtures::Await<absl::Status>([&](auto done) {
      store_->CompleteJob(job_id, who, result, nullptr, done);
    });
  }
  absl::Status FailNow(int64_t job_id, const LeaseCredentials& who,
                       const std::string& error, bool release) {
    return fixtures::Await<absl::Status>(
        [&](auto done) { store_->FailJob(job_id, who, error, release, done); });
  }

  // What the lease's worker presents (registered without a token).
  static LeaseCredentials Who(const Lease& lease) {
    return {lease.job.worker_id, "", lease.key};
  }
  // The same with a key that is not the lease's.
  static LeaseCredentials Stale(const Lease& lease) {
    LeaseCredentials who = Who(lease);
    who.lease_key[0] = who.lease_key[0] == '0' ? '1' : '0';
    return who;
  }
  // The registered id of the test's worker `name` (registered on first use,
  // without a token); a registered id stands for itself.
  std::string WorkerId(const std::string& name) {
    auto it = worker_ids_.find(name);
    if (it != worker_ids_.end()) return it->second;
    if (store_->TouchWorker(name, 0).ok()) return name;
    absl::StatusOr<std::string> id =
        store_->RegisterWorker("test-host", "cpu", 1, {});
    EXPECT_TRUE(id.ok()) << id.status();
    worker_ids_[name] = *id;
    return *id;
  }

  void Reopen(Store::Options options = {}) {
    store_.reset();
    options.path = path_;
    options.now_ms = [this] { return now_.load(); };
    auto store = Store::Open(std::move(options));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Reopens the store so that HoldNextBatch() can stop its writer before a
  // batch, while the test queues more writes behind it.
  void ReopenWithBatchGate() {
    Store::Options options;
    options.before_batch = [this] {
      if (!hold_.exchange(false)) return;
      held_->Notify();
      release_->WaitForNotification();
    };
    Reopen(std::move(options));
  }
  // The writer's next batch waits in before_batch until ReleaseBatch().
  void HoldNextBatch() {
    held_ = std::make_unique<absl::Notification>();
    release_ = std::make_unique<absl::Notification>();
    hold_ = true;
  }
  void ReleaseBatch() { release_->Notify(); }

  // Collects the outcomes of asynchronous writes.
  struct Outcomes {
    absl::Mutex mu;
    std::vector<absl::Status> statuses ABSL_GUARDED_BY(mu);
    std::function<void(absl::Status)> Slot(size_t i) {
      {
        absl::MutexLock lock(&mu);
        if (statuses.size() <= i)
          statuses.resize(i + 1, absl::UnknownError(""));
      }
      return [this, i](absl::Status s) {
        absl::MutexLock lock(&mu);
        statuses[i] = std::move(s);
        ++done;
      };
    }
    void WaitFor(int n) {
      absl::MutexLock lock(&mu);
      auto all = [this, n]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done >= n; };
      mu.Await(absl::Condition(&all));
    }
    absl::Status Get(size_t i) {
      absl::MutexLock lock(&mu);
      return statuses[i];
    }
    int done ABSL_GUARDED_BY(mu) = 0;
  };

  std::string AddSweep(int jobs, int priority = 0, std::string request_id = "",
                       int max_attempts = 3) {
    NewSweep sweep;
    sweep.name = "test";
    sweep.spec = "spec-bytes";
    sweep.priority = priority;
    sweep.max_attempts = max_attempts;
    sweep.request_id = request_id;
    for (int i = 0; i < jobs; ++i) {
      sweep.jobs.push_back({std::string("job\0spec", 8) + std::to_string(i),
                            "key" + std::to_string(i),
                            {{"model.width", 32.0 * (i % 2 + 1)},
                             {"seed", static_cast<double>(i / 2)}}});
    }
    bool existing = false;
    auto id = store_->CreateSweep(sweep, &existing);
    EXPECT_TRUE(id.ok()) << id.status();
    return *id;
  }

  Lease MustLease(const std::string& worker = "w-1") {
    auto lease = store_->LeaseJob(WorkerId(worker), 60000);
    EXPECT_TRUE(lease.ok()) << lease.status();
    EXPECT_TRUE(lease->has_value());
    return **lease;
  }

  ResultRecord Result(double forgetting) {
    ResultRecord r;
    r.metrics = {{"forgetting", forgetting}, {"acc", 0.8}};
    r.accuracy_matrix = {{0.9, 0.1}, {0.9 - forgetting, 0.95}};
    r.curves = {{0, 100, 0, 0.5}, {0, 100, 1, 0.1}};
    r.parameter_count = 1234;
    r.device = "cpu";
    r.blob = "result-blob";
    return r;
  }

  fixtures::TempDatabase database_;
  const std::string& path_ = database_.path();
  std::map<std::string, std::string> worker_ids_;
  std::atomic<int64_t> now_{1'000'000};
  std::atomic<bool> hold_{false};
  std::unique_ptr<absl::Notification> held_, release_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, SchemaIsVersionedAndWal) {
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(),
            Store::SchemaVersion());
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

// Undoes migration 5 -> 6 (shared pretraining) on a closed store's file.
void RollBackVersionSix(SQLite::Database& db) {
  db.exec("DROP TABLE artifacts");
  db.exec("DROP INDEX jobs_by_artifact");
  db.exec("ALTER TABLE jobs DROP COLUMN kind");
  db.exec("ALTER TABLE jobs DROP COLUMN artifact_key");
  db.exec("DROP INDEX results_by_pretrain_token");
  db.exec("ALTER TABLE results DROP COLUMN pretrain_token_name");
}

TEST_F(StoreTest, VersionOneDatabaseIsMigratedForward) {
  const std::string id = AddSweep(1);
  store_.reset();
  {
    // Roll the file back to schema 1: without version 2's (and 5's)
    // columns.
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    RollBackVersionSix(db);
    db.exec("ALTER TABLE sweeps DROP COLUMN stored_bytes");
    db.exec("DROP INDEX results_by_worker_token");
    db.exec("ALTER TABLE results DROP COLUMN worker_token_name");
    db.exec("ALTER TABLE workers DROP COLUMN token_name");
    db.exec("ALTER TABLE jobs DROP COLUMN lease_key");
    db.exec("ALTER TABLE jobs DROP COLUMN dataset");
    db.exec("ALTER TABLE jobs DROP COLUMN device_kind");
    db.exec("ALTER TABLE workers DROP COLUMN datasets");
    db.exec("PRAGMA user_version=1");
  }
  Reopen();
  {
    SQLite::Database db(path_, SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(),
              Store::SchemaVersion());
  }
  Lease lease = MustLease();  // the old job is still there and leasable
  EXPECT_EQ(lease.job.sweep_id, id);
  EXPECT_EQ(lease.job.dataset, "");
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  store_.reset();
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version=99");
  }
  auto store = Store::Open({path_, nullptr});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("schema version 99"));
}

TEST_F(StoreTest, SweepCountsAndIdempotentSubmit) {
  const std::string id = AddSweep(4, 0, "req-1");
  auto sweep = store_->GetSweep(id);
  ASSERT_TRUE(sweep.ok());
  EXPECT_EQ(sweep->total, 4);
  EXPECT_EQ(sweep->counts[static_cast<int>(JobState::kQueued)], 4);
  EXPECT_FALSE(sweep->done());

  NewSweep again;
  again.name = "again";
  again.spec = "x";
  again.request_id = "req-1";
  again.jobs.push_back({"s", "k", {}});
  bool existing = false;
  auto second = store_->CreateSweep(again, &existing);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(existing);
  EXPECT_EQ(*second, id);
  EXPECT_EQ(store_->ListSweeps(10)->size(), 1u);
  EXPECT_EQ(store_->GetSweep("sw-nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, LeasesByPriorityThenFifo) {
  const std::string low = AddSweep(2, 0);
  const std::string high = AddSweep(1, 5);
  Lease first = MustLease();
  EXPECT_EQ(first.job.sweep_id, high);
  Lease second = MustLease();
  Lease third = MustLease();
  EXPECT_EQ(second.job.sweep_id, low);
  EXPECT_EQ(second.job.index, 0);
  EXPECT_EQ(third.job.index, 1);
  EXPECT_EQ(second.job.axis_values.at("model.width"), 32);
  EXPECT_EQ(second.job.spec, std::string("job\0spec0", 9));
  EXPECT_GT(third.token, second.token);  // fencing tokens only grow
  auto none = store_->LeaseJob("w-1", 60000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(StoreTest, CompleteIsFencedAndIdempotent) {
  AddSweep(1);
  Lease lease = MustLease();
  auto hb =
      HeartbeatNow(lease.job.job_id, Who(lease), "task:A", 10, 900, 60000);
  ASSERT_TRUE(hb.ok());
  EXPECT_FALSE(hb->cancel);
  EXPECT_EQ(store_->GetJob(lease.job.job_id)->phase, "task:A");

  EXPECT_EQ(CompleteNow(lease.job.job_id, Stale(lease), Result(0.1)).code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE(CompleteNow(lease.job.job_id, Who(lease), Result(0.1)).ok());
  // Retried after a lost reply: same token, no second result.
  ASSERT_TRUE(CompleteNow(lease.job.job_id, Who(lease), Result(0.2)).ok());
  auto samples = store_->MetricSamples({lease.job.sweep_id}, "forgetting",
                                       "model.width", "seed");
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ((*samples)->size(), 1u);
  EXPECT_DOUBLE_EQ((**samples)[0].value, 0.1);
  EXPECT_EQ((**samples)[0].row, 32);
  EXPECT_EQ((**samples)[0].col, 0);
  EXPECT_EQ((**samples)[0].parameter_count, 1234);
  EXPECT_EQ(*store_->GetResultBlob(lease.job.job_id), "result-blob");
  // Heartbeats and failures after completion are stale.
  EXPECT_EQ(
      HeartbeatNow(lease.job.job_id, Who(lease), "", 0, 0, 1).status().code(),
      absl::StatusCode::kAborted);
  EXPECT_EQ(FailNow(lease.job.job_id, Who(lease), "x", false).code(),
            absl::StatusCode::kAborted);
}

TEST_F(StoreTest, RepeatedSampleQueriesSeeEveryNewResult) {
  const std::string a = AddSweep(3);
  const std::string b = AddSweep(1);
  auto count = [&](std::vector<std::string> sweeps) {
    auto samples =
        store_->MetricSamples(sweeps, "forgetting", "model.width", "seed");
    EXPECT_TRUE(samples.ok());
    return samples.ok() ? (*samples)->size() : size_t{999};
  };
  EXPECT_EQ(count({a}), 0u);
  for (int done = 1; done <= 4; ++done) {
    Lease lease = MustLease();
    ASSERT_TRUE(
        CompleteNow(lease.job.job_id, Who(lease), Result(0.1 * done)).ok());
    // Asked twice: the second answer (from memory) equals the first.
    const size_t in_a = done < 4 ? done : 3;
    EXPECT_EQ(count({a}), in_a);
    EXPECT_EQ(count({a}), in_a);
    EXPECT_EQ(count({a, b}), static_cast<size_t>(done));
    EXPECT_EQ(count({b}), done < 4 ? 0u : 1u);
  }
  // Other keys of the same sweep are cached separately.
  auto filtered = store_->MetricSamples({a}, "acc", "model.width", "seed",
                                        {{"model.width", 32}});
  ASSERT_TRUE(filtered.ok());
  EXPECT_EQ((*filtered)->size(), 2u);
}

TEST_F(StoreTest, ExpiredLeaseIsRetriedThenFails) {
  const std::string id = AddSweep(1, 0, "", /*max_attempts=*/2);
  Lease first = MustLease("w-a");
  now_ += 60001;
  auto changed = store_->ExpireLeases();
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, std::vector<std::string>{id});
  auto job = store_->GetJob(first.job.job_id);
  EXPECT_EQ(job->state, JobState::kQueued);
  EXPECT_THAT(job->error,
              HasSubstr("lease expired (worker " + WorkerId("w-a")));

  Lease second = MustLease("w-b");
  EXPECT_EQ(second.job.attempt, 2);
  // The first worker comes back: its token no longer counts.
  EXPECT_EQ(
      HeartbeatNow(first.job.job_id, Who(first), "", 0, 0, 1).status().code(),
      absl::StatusCode::kAborted);
  EXPECT_EQ(CompleteNow(first.job.job_id, Who(first), Result(0.3)).code(),
            absl::StatusCode::kAborted);
  // Second attempt also dies: max_attempts reached.
  now_ += 60001;
  ASSERT_TRUE(store_->ExpireLeases().ok());
  job = store_->GetJob(first.job.job_id);
  EXPECT_EQ(job->state, JobState::kFailed);
  EXPECT_THAT(job->error, HasSubstr("attempt 2 of 2"));
}

TEST_F(StoreTest, LeaseJobExpiresOverdueLeasesFirst) {
  AddSweep(1);
  Lease first = MustLease("w-a");
  now_ += 70000;
  Lease again = MustLease("w-b");
  EXPECT_EQ(again.job.job_id, first.job.job_id);
  EXPECT_EQ(again.job.worker_id, WorkerId("w-b"));
}

TEST_F(StoreTest, ReleaseRequeuesWithoutUsingAnAttempt) {
  AddSweep(1);
  Lease lease = MustLease();
  ASSERT_TRUE(
      FailNow(lease.job.job_id, Who(lease), "worker stopping", true).ok());
  auto job = store_->GetJob(lease.job.job_id);
  EXPECT_EQ(job->state, JobState::kQueued);
  EXPECT_EQ(job->attempt, 0);
  EXPECT_EQ(MustLease().job.attempt, 1);
}

TEST_F(StoreTest, FailureIsStoredWithReason) {
  AddSweep(1);
  Lease lease = MustLease();
  ASSERT_TRUE(FailNow(lease.job.job_id, Who(lease),
                      "non-finite loss at task:A step 3", false)
                  .ok());
  auto job = store_->GetJob(lease.job.job_id);
  EXPECT_EQ(job->state, JobState::kFailed);
  EXPECT_EQ(job->error, "non-finite loss at task:A step 3");
  auto sweep = store_->GetSweep(lease.job.sweep_id);
  EXPECT_TRUE(sweep->done());
}

TEST_F(StoreTest, CancelStopsQueuedAtOnceAndLeasedAtHeartbeat) {
  const std::string id = AddSweep(3);
  Lease lease = MustLease();
  auto out = store_->CancelSweep(id, {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->cancelled, 2);
  EXPECT_EQ(out->stopping, 1);
  auto hb = HeartbeatNow(lease.job.job_id, Who(lease), "task:A", 5, 10, 60000);
  ASSERT_TRUE(hb.ok());
  EXPECT_TRUE(hb->cancel);
  ASSERT_TRUE(FailNow(lease.job.job_id, Who(lease), "cancelled", false).ok());
  auto sweep = store_->GetSweep(id);
  EXPECT_EQ(sweep->counts[static_cast<int>(JobState::kCancelled)], 3);
  EXPECT_TRUE(sweep->done());
  EXPECT_EQ(store_->CancelSweep("sw-missing", {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, StateSurvivesReopen) {
  const std::string id = AddSweep(2);
  Lease lease = MustLease();
  Reopen();  // as after a crash: nothing but the file remains
  auto job = store_->GetJob(lease.job.job_id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kLeased);
  EXPECT_EQ(job->lease_token, lease.token);
  ASSERT_TRUE(HeartbeatNow(lease.job.job_id, Who(lease), "", 1, 2, 60000).ok());
  auto jobs = store_->ListJobs(id, JobState::kQueued, 0, 100);
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), 1u);
}

TEST_F(StoreTest, ListJobsPages) {
  const std::string id = AddSweep(5);
  auto page = store_->ListJobs(id, std::nullopt, 0, 2);
  ASSERT_EQ(page->size(), 2u);
  auto next = store_->ListJobs(id, std::nullopt, page->back().job_id, 10);
  ASSERT_EQ(next->size(), 3u);
  EXPECT_EQ(next->front().index, 2);
  EXPECT_EQ(next->front().axis_values.at("seed"), 1);
}

TEST_F(StoreTest, WorkersAreListedWithCurrentJob) {
  auto w = store_->RegisterWorker("host-1", "cpu", 2, {"synthetic"});
  ASSERT_TRUE(w.ok());
  AddSweep(1);
  Lease lease = MustLease(*w);
  auto workers = store_->ListWorkers();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].host, "host-1");
  EXPECT_EQ((*workers)[0].current_job_id, lease.job.job_id);
  EXPECT_EQ((*workers)[0].datasets, std::vector<std::string>{"synthetic"});
  EXPECT_EQ(store_->TouchWorker("w-unknown", 0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, LeasesOnlyWhatTheWorkerCanRun) {
  NewSweep sweep;
  sweep.name = "mixed";
  sweep.spec = "s";
  sweep.jobs = {{"a", "ka", {}, "fashion_mnist"}, {"b", "kb", {}, "synthetic"}};
  bool existing = false;
  ASSERT_TRUE(store_->CreateSweep(sweep, &existing).ok());
  NewSweep gpu = sweep;
  gpu.device_kind = "cuda";
  gpu.jobs = {{"c", "kc", {}, "synthetic"}};
  ASSERT_TRUE(store_->CreateSweep(gpu, &existing).ok());

  const std::string synthetic_only =
      *store_->RegisterWorker("h", "cpu", 1, {"synthetic"});
  Lease lease = MustLease(synthetic_only);
  EXPECT_EQ(lease.job.spec, "b");  // skips the fashion_mnist job
  auto none = store_->LeaseJob(synthetic_only, 60000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());  // the cuda job is not for a cpu worker

  const std::string gpu_worker =
      *store_->RegisterWorker("g", "cuda:0", 1, {"synthetic", "fashion_mnist"});
  EXPECT_EQ(MustLease(gpu_worker).job.spec, "a");
  EXPECT_EQ(MustLease(gpu_worker).job.spec, "c");
}

TEST_F(StoreTest, CancelOneJobAndRetryFailedOnes) {
  const std::string id = AddSweep(3);
  Lease first = MustLease();
  auto out = store_->CancelSweep(id, {first.job.job_id + 1});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->cancelled, 1);
  EXPECT_EQ(out->stopping, 0);
  EXPECT_EQ(store_->CancelSweep(id, {999}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(FailNow(first.job.job_id, Who(first), "boom", false).ok());
  Lease third = MustLease();
  ASSERT_TRUE(CompleteNow(third.job.job_id, Who(third), Result(0.1)).ok());

  auto requeued = store_->RetrySweep(id);
  ASSERT_TRUE(requeued.ok());
  EXPECT_EQ(*requeued, 2);  // the failed and the cancelled job
  auto sweep = store_->GetSweep(id);
  EXPECT_EQ(sweep->counts[static_cast<int>(JobState::kQueued)], 2);
  EXPECT_EQ(sweep->counts[static_cast<int>(JobState::kSucceeded)], 1);
  auto job = store_->GetJob(first.job.job_id);
  EXPECT_EQ(job->attempt, 0);
  EXPECT_EQ(job->error, "");
  EXPECT_EQ(MustLease().job.attempt, 1);
  EXPECT_EQ(store_->RetrySweep("sw-none").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, IdenticalSpecIsServedFromTheCacheUnlessRerun) {
  AddSweep(1);
  Lease lease = MustLease();
  ASSERT_TRUE(CompleteNow(lease.job.job_id, Who(lease), Result(0.25)).ok());

  NewSweep again;
  again.name = "again";
  again.spec = "s";
  again.jobs = {{lease.job.spec, lease.job.spec_key, {{"model.width", 32}}, ""},
                {"other spec", "other key", {{"model.width", 64}}, ""}};
  bool existing = false;
  const std::string id = *store_->CreateSweep(again, &existing);
  auto sweep = store_->GetSweep(id);
  EXPECT_EQ(sweep->cached, 1);
  EXPECT_EQ(sweep->counts[static_cast<int>(JobState::kSucceeded)], 1);
  EXPECT_EQ(sweep->counts[static_cast<int>(JobState::kQueued)], 1);
  auto samples =
      store_->MetricSamples({id}, "forgetting", "model.width", "seed");
  ASSERT_EQ((*samples)->size(), 1u);
  EXPECT_DOUBLE_EQ((**samples)[0].value, 0.25);
  auto jobs = store_->ListJobs(id, JobState::kSucceeded, 0, 10);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_TRUE((*jobs)[0].cached);

  again.use_cache = false;  // the sweep set `rerun`
  const std::string rerun = *store_->CreateSweep(again, &existing);
  EXPECT_EQ(store_->GetSweep(rerun)->cached, 0);
  EXPECT_EQ(
      store_->GetSweep(rerun)->counts[static_cast<int>(JobState::kQueued)], 2);
}

TEST_F(StoreTest, ExtendAddsOnlyNewJobsServesTheCacheAndTagsNewAxes) {
  const std::string id = AddSweep(2);  // key0, key1
  for (int i = 0; i < 2; ++i) {
    Lease lease = MustLease();
    ASSERT_TRUE(CompleteNow(lease.job.job_id, Who(lease), Result(0.25)).ok());
  }
  // Another sweep already ran "key9".
  NewSweep other;
  other.name = "other";
  other.spec = "s";
  other.jobs = {{"spec9", "key9", {{"seed", 9}}, ""}};
  bool existing = false;
  const std::string other_id = *store_->CreateSweep(other, &existing);
  Lease nine = MustLease();
  ASSERT_EQ(nine.job.spec_key, "key9");
  ASSERT_TRUE(CompleteNow(nine.job.job_id, Who(nine), Result(0.5)).ok());

  NewSweep growth;
  growth.spec = "grown-spec";
  growth.jobs = {{std::string("job\0spec", 8) + "1", "key1", {}, ""},
                 {"spec9", "key9", {{"seed", 9}, {"finetune.lr", 0.1}}, ""},
                 {"spec10", "key10", {{"seed", 10}, {"finetune.lr", 0.1}}, ""}};
  // A dry run counts and changes nothing.
  absl::StatusOr<Extension> dry =
      store_->ExtendSweep(id, growth, {{"finetune.lr", 0.01}}, true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(dry->added, 2);
  EXPECT_EQ(dry->cached, 1);
  EXPECT_EQ(dry->present, 1);
  EXPECT_EQ(dry->total, 2);
  EXPECT_EQ(store_->GetSweep(id)->total, 2);

  absl::StatusOr<Extension> out =
      store_->ExtendSweep(id, growth, {{"finetune.lr", 0.01}}, false);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->added, 2);
  EXPECT_EQ(out->cached, 1);  // key9, from the other sweep
  EXPECT_EQ(out->present, 1);
  EXPECT_EQ(out->total, 4);
  auto sweep = store_->GetSweep(id);
  EXPECT_EQ(sweep->total, 4);
  EXPECT_EQ(sweep->cached, 1);
  EXPECT_EQ(sweep->spec, "grown-spec");
  // Indices go on after the sweep's; the old jobs get the new axis's value.
  auto jobs = store_->ListJobs(id, std::nullopt, 0, 10);
  ASSERT_EQ(jobs->size(), 4u);
  EXPECT_EQ((*jobs)[2].index, 2);
  EXPECT_EQ((*jobs)[3].index, 3);
  EXPECT_EQ((*jobs)[0].axis_values.at("finetune.lr"), 0.01);
  EXPECT_EQ((*jobs)[3].axis_values.at("finetune.lr"), 0.1);

  // Again: nothing new, and the spec stays when growth.spec is "".
  growth.spec.clear();
  out = store_->ExtendSweep(id, growth, {}, false);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->added, 0);
  EXPECT_EQ(out->present, 3);
  EXPECT_EQ(store_->GetSweep(id)->spec, "grown-spec");
  EXPECT_EQ(store_->ExtendSweep("sw-none", growth, {}, false).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetSweep(other_id)->total, 1);
}

TEST(QuotaTest, ExtendingASweepCountsAgainstItsOwnersQuotas) {
  fixtures::TempDatabase database;
  int64_t now = 1'700'000'000'000;
  auto store = OpenWithClock(database.path(), &now);
  ASSERT_TRUE(store.ok()) << store.status();
  NewSweep s;
  s.name = "q";
  s.spec = "spec";
  s.owner = "ann";
  s.max_queued_jobs = 5;
  s.max_sweeps_per_hour = 1;
  for (int i = 0; i < 3; ++i) {
    s.jobs.push_back({"j", absl::StrCat("k", i), {{"seed", 1.0 * i}}});
  }
  bool existing = false;
  const std::string id = *(*store)->CreateSweep(s, &existing);
  NewSweep growth = s;
  growth.jobs.clear();
  for (int i = 3; i < 6; ++i) {
    growth.jobs.push_back({"j", absl::StrCat("k", i), {{"seed", 1.0 * i}}});
  }
  absl::StatusOr<Extension> over = (*store)->ExtendSweep(id, growth, {}, false);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("3 jobs queued"));
  growth.jobs.pop_back();
  // Two more fit, although the owner used its one sweep this hour.
  absl::StatusOr<Extension> fits = (*store)->ExtendSweep(id, growth, {}, false);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->added, 2);
}

TEST_F(StoreTest, WritesQueuedTogetherCommitAsOneBatchAndFailAlone) {
  ReopenWithBatchGate();
  AddSweep(3);
  ASSERT_TRUE(store_->RegisterWorker("h", "cpu", 1, {}).ok());
  const Lease a = MustLease("w-a");
  const Lease b = MustLease("w-b");
  Outcomes out;

  // Stop the writer on a first heartbeat, and queue six writes behind it.
  HoldNextBatch();
  store_->Heartbeat(a.job.job_id, Who(a), "train", 1, 10, 60000,
                    [slot = out.Slot(0)](auto r) { slot(r.status()); });
  held_->WaitForNotification();
  const int64_t batches = store_->write_batches();
  const int64_t writes = store_->writes();
  store_->Heartbeat(b.job.job_id, Who(b), "train", 7, 10, 60000,
                    [slot = out.Slot(1)](auto r) { slot(r.status()); });
  store_->CompleteJob(a.job.job_id, Stale(a), Result(0.1), nullptr,
                      out.Slot(2));  // a stale token
  store_->CompleteJob(a.job.job_id, Who(a), Result(0.2), nullptr, out.Slot(3));
  store_->CompleteJob(
      b.job.job_id, Who(b), Result(0.3),
      [](const JobRow&) { return absl::InvalidArgumentError("no"); },
      out.Slot(4));
  store_->TouchAndLease("w-unknown", "", 60000, {},
                        [slot = out.Slot(5)](auto r) { slot(r.status()); });
  store_->FailJob(b.job.job_id, Stale(b), "late", false, out.Slot(6));
  ReleaseBatch();
  out.WaitFor(7);

  // The held batch, then the six others in one transaction.
  EXPECT_EQ(store_->write_batches() - batches, 2);
  EXPECT_EQ(store_->writes() - writes, 7);
  EXPECT_TRUE(out.Get(0).ok()) << out.Get(0);
  EXPECT_TRUE(out.Get(1).ok()) << out.Get(1);
  EXPECT_EQ(out.Get(2).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(out.Get(3).ok()) << out.Get(3);
  EXPECT_EQ(out.Get(4).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.Get(5).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(out.Get(6).code(), absl::StatusCode::kAborted);
  // What succeeded is stored, next to what failed.
  EXPECT_EQ(store_->GetJob(a.job.job_id)->state, JobState::kSucceeded);
  EXPECT_EQ(*store_->GetResultBlob(a.job.job_id), "result-blob");
  auto job_b = store_->GetJob(b.job.job_id);
  EXPECT_EQ(job_b->state, JobState::kLeased);
  EXPECT_EQ(job_b->step, 7);
  EXPECT_FALSE(store_->GetResultBlob(b.job.job_id).ok());
}

TEST_F(StoreTest, ADoneMayWriteAgain) {
  AddSweep(1);
  const std::string worker = *store_->RegisterWorker("h", "cpu", 1, {});
  const Lease a = MustLease(worker);
  absl::Notification done;
  absl::Status again;
  store_->Heartbeat(a.job.job_id, Who(a), "", 0, 0, 60000,
                    [&](absl::StatusOr<HeartbeatOutcome> out) {
                      ASSERT_TRUE(out.ok());
                      // A blocking write from the answering thread.
                      again = CompleteNow(a.job.job_id, Who(a), Result(0.1));
                      done.Notify();
                    });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(again.ok()) << again;
  EXPECT_EQ(store_->GetJob(a.job.job_id)->state, JobState::kSucceeded);
}

TEST_F(StoreTest, AWriteThatFailsHalfwayLeavesNoTraceInItsBatch) {
  ReopenWithBatchGate();
  AddSweep(2);
  const Lease a = MustLease("w-a");
  const Lease b = MustLease("w-b");
  {
    // A metric named "boom" fails its insert, after the result row is in.
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec(
        "CREATE TRIGGER boom BEFORE INSERT ON result_metrics "
        "WHEN NEW.name='boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
  }
  ResultRecord bad = Result(0.1);
  bad.metrics["boom"] = 1;
  Outcomes out;
  HoldNextBatch();
  store_->Heartbeat(a.job.job_id, Who(a), "", 0, 0, 60000,
                    [slot = out.Slot(0)](auto r) { slot(r.status()); });
  held_->WaitForNotification();
  store_->CompleteJob(a.job.job_id, Who(a), bad, nullptr, out.Slot(1));
  store_->CompleteJob(b.job.job_id, Who(b), Result(0.2), nullptr, out.Slot(2));
  ReleaseBatch();
  out.WaitFor(3);

  EXPECT_FALSE(out.Get(1).ok());
  EXPECT_THAT(std::string(out.Get(1).message()), HasSubstr("boom"));
  EXPECT_TRUE(out.Get(2).ok()) << out.Get(2);
  // Job a: no result row, no metric, still leased under its token.
  auto job_a = store_->GetJob(a.job.job_id);
  EXPECT_EQ(job_a->state, JobState::kLeased);
  EXPECT_FALSE(store_->GetResultBlob(a.job.job_id).ok());
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT COUNT(*) FROM result_metrics WHERE job_id=?");
  q.bind(1, a.job.job_id);
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getInt(), 0);
  EXPECT_EQ(store_->GetJob(b.job.job_id)->state, JobState::kSucceeded);
  // And the job can still be completed.
  EXPECT_TRUE(CompleteNow(a.job.job_id, Who(a), Result(0.1)).ok());
}

TEST_F(StoreTest, ConcurrentWorkersEachJobOnce) {
  constexpr int kJobs = 400;
  AddSweep(kJobs);
  std::atomic<int> completed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([this, w, &completed] {
      const std::string id = *store_->RegisterWorker("h", "cpu", 1, {});
      for (;;) {
        absl::StatusOr<std::optional<Lease>> lease =
            store_->LeaseJob(id, 60000);
        ASSERT_TRUE(lease.ok()) << lease.status();
        if (!lease->has_value()) return;
        const Lease& l = **lease;
        ASSERT_TRUE(HeartbeatNow(l.job.job_id, Who(l), "", 1, 1, 60000).ok());
        ASSERT_TRUE(CompleteNow(l.job.job_id, Who(l), Result(0.01 * w)).ok());
        ++completed;
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(completed.load(), kJobs);
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM jobs WHERE state='SUCCEEDED'")
                .getInt(),
            kJobs);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM attempts").getInt(), kJobs);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results").getInt(), kJobs);
  EXPECT_LE(store_->write_batches(), store_->writes());
}

TEST_F(StoreTest, WalStartsOverUnderContinuousWrites) {
  Store::Options options;
  options.checkpoint_frames = 20;
  options.restart_frames = 100;
  Reopen(std::move(options));
  constexpr int kJobs = 300;
  AddSweep(kJobs);
  for (int i = 0; i < kJobs; ++i) {
    const Lease l = MustLease();
    ASSERT_TRUE(HeartbeatNow(l.job.job_id, Who(l), "", 1, 1, 60000).ok());
    ASSERT_TRUE(CompleteNow(l.job.job_id, Who(l), Result(0.1)).ok());
  }
  // About 900 commits of a few pages each went through the WAL: 5,400
  // frames, 22 MB, had it only grown. It was written from its beginning
  // again near 100 frames instead; the margin, under half of 5,400, is for
  // checkpoint rounds that a busy machine slows down (1,500 failed once
  // under ctest -j2 on the 2-core machine; 4,120 bytes a frame).
  const auto wal_bytes = std::filesystem::file_size(path_ + "-wal");
  EXPECT_LT(wal_bytes, 2500u * 4120u) << wal_bytes;
  // Everything is in the database, as another connection sees it.
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM jobs WHERE state='SUCCEEDED'")
                .getInt(),
            kJobs);
}

TEST_F(StoreTest, VersionThreeDatabaseGetsTheVersionFourIndexes) {
  AddSweep(1);
  store_.reset();
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    db.exec("DROP INDEX jobs_by_spec_key");
    db.exec("CREATE INDEX jobs_by_key ON jobs(spec_key, state)");
    db.exec("DROP INDEX jobs_by_sweep");
    db.exec("CREATE INDEX jobs_by_sweep ON jobs(sweep_id, state)");
    RollBackVersionSix(db);
    db.exec("ALTER TABLE sweeps DROP COLUMN stored_bytes");
    db.exec("DROP INDEX results_by_worker_token");
    db.exec("ALTER TABLE results DROP COLUMN worker_token_name");
    db.exec("ALTER TABLE workers DROP COLUMN token_name");
    db.exec("ALTER TABLE jobs DROP COLUMN lease_key");
    db.exec("PRAGMA user_version=3");
  }
  Reopen();
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  auto has_index = [&db](const char* name) {
    SQLite::Statement q(db,
                        "SELECT COUNT(*) FROM sqlite_master WHERE type='index' "
                        "AND name=?");
    q.bind(1, name);
    q.executeStep();
    return q.getColumn(0).getInt() == 1;
  };
  EXPECT_FALSE(has_index("jobs_by_key"));
  EXPECT_TRUE(has_index("jobs_by_spec_key"));
  SQLite::Statement plan(db,
                         "EXPLAIN QUERY PLAN SELECT job_id FROM jobs WHERE "
                         "spec_key='k' AND state='SUCCEEDED' AND spec='s'");
  std::string steps;
  while (plan.executeStep()) steps += plan.getColumn(3).getString() + "\n";
  EXPECT_THAT(steps, HasSubstr("jobs_by_spec_key"));
  // GetSweep's counts come from an index alone.
  SQLite::Statement counts(db,
                           "EXPLAIN QUERY PLAN SELECT state, COUNT(*), "
                           "SUM(cached) FROM jobs WHERE sweep_id='s' GROUP BY "
                           "state");
  steps.clear();
  while (counts.executeStep()) steps += counts.getColumn(3).getString() + "\n";
  EXPECT_THAT(steps, HasSubstr("COVERING INDEX jobs_by_sweep"));
}

TEST(DatabaseLockTest, OneHolderAtATimeAndItSaysWho) {
  fixtures::TempDatabase database;
  absl::StatusOr<std::unique_ptr<DatabaseLock>> first =
      DatabaseLock::Acquire(database.path());
  ASSERT_TRUE(first.ok()) << first.status();
  (*first)->SetHolder("listening on port 4242");
  absl::StatusOr<std::unique_ptr<DatabaseLock>> second =
      DatabaseLock::Acquire(database.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(),
              ::testing::HasSubstr(database.path() + " is in use"));
  EXPECT_THAT(second.status().message(),
              ::testing::HasSubstr("listening on port 4242"));
  first->reset();
  EXPECT_TRUE(DatabaseLock::Acquire(database.path()).ok());
}

class LeaseBindingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open({database_.path()});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    sweep_ = AddTwoJobSweep("bound");
  }
  // A sweep of the same two experiments each time (seeds 0 and 1).
  std::string AddTwoJobSweep(const std::string& name) {
    NewSweep sweep;
    sweep.name = name;
    sweep.spec = "spec";
    for (int i = 0; i < 2; ++i) {
      sweep.jobs.push_back({"job" + std::to_string(i),
                            "key" + std::to_string(i),
                            {{"seed", static_cast<double>(i)}}});
    }
    bool existing = false;
    return *store_->CreateSweep(sweep, &existing);
  }
  absl::StatusOr<Store::LeaseAttempt> LeaseAs(const std::string& worker,
                                              const std::string& token) {
    return fixtures::Await<absl::StatusOr<Store::LeaseAttempt>>([&](auto done) {
      store_->TouchAndLease(worker, token, 60000, {}, done);
    });
  }
  absl::Status Complete(int64_t job, const LeaseCredentials& who) {
    ResultRecord r;
    r.metrics = {{"forgetting", 0.1}};
    r.blob = "blob";
    return fixtures::Await<absl::Status>(
        [&](auto done) { store_->CompleteJob(job, who, r, nullptr, done); });
  }
  absl::Status Fail(int64_t job, const LeaseCredentials& who) {
    return fixtures::Await<absl::Status>(
        [&](auto done) { store_->FailJob(job, who, "forged", false, done); });
  }

  fixtures::TempDatabase database_;
  std::unique_ptr<Store> store_;
  std::string sweep_;
};

TEST_F(LeaseBindingTest, ALeaseIsASecretOfOneWorkerOfOneToken) {
  const std::string alice = *store_->RegisterWorker("a", "cpu", 1, {}, "alice");
  const std::string mallory =
      *store_->RegisterWorker("m", "cpu", 1, {}, "mallory");
  // Another token cannot lease, heartbeat or complete as alice's worker.
  EXPECT_EQ(LeaseAs(alice, "mallory").status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::StatusOr<Store::LeaseAttempt> a = LeaseAs(alice, "alice");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->lease.has_value());
  const Lease lease = *a->lease;
  EXPECT_EQ(lease.key.size(), 32u);  // 128 bits
  EXPECT_EQ(lease.key.find_first_not_of("0123456789abcdef"), std::string::npos);
  absl::StatusOr<Store::LeaseAttempt> b = LeaseAs(alice, "alice");
  ASSERT_TRUE(b.ok() && b->lease.has_value());
  EXPECT_NE(b->lease->key, lease.key);

  const int64_t job = lease.job.job_id;
  EXPECT_EQ(Complete(job, {alice, "mallory", lease.key}).code(),
            absl::StatusCode::kPermissionDenied);
  // Mallory's own worker, even with the right key, does not hold the lease;
  // the error gives away neither the key nor the holder.
  absl::Status forged = Complete(job, {mallory, "mallory", lease.key});
  EXPECT_EQ(forged.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(std::string(forged.message()).find(lease.key), std::string::npos);
  EXPECT_EQ(std::string(forged.message()).find(alice), std::string::npos);
  EXPECT_EQ(Fail(job, {mallory, "mallory", lease.key}).code(),
            absl::StatusCode::kAborted);
  // A guessed key fails too.
  EXPECT_EQ(Complete(job, {alice, "alice", std::string(32, '0')}).code(),
            absl::StatusCode::kAborted);
  // Alice's genuine result is stored, with her token's name.
  ASSERT_TRUE(Complete(job, {alice, "alice", lease.key}).ok());
  EXPECT_TRUE(Complete(job, {alice, "alice", lease.key}).ok());  // a retry
}

TEST_F(LeaseBindingTest, InvalidatingAWorkerTokenDropsItsResultsAndCopies) {
  const std::string bad = *store_->RegisterWorker("b", "cpu", 1, {}, "broken");
  const std::string good = *store_->RegisterWorker("g", "cpu", 1, {}, "good");
  absl::StatusOr<Store::LeaseAttempt> first = LeaseAs(bad, "broken");
  absl::StatusOr<Store::LeaseAttempt> second = LeaseAs(good, "good");
  ASSERT_TRUE(first.ok() && first->lease.has_value());
  ASSERT_TRUE(second.ok() && second->lease.has_value());
  ASSERT_TRUE(
      Complete(first->lease->job.job_id, {bad, "broken", first->lease->key})
          .ok());
  ASSERT_TRUE(
      Complete(second->lease->job.job_id, {good, "good", second->lease->key})
          .ok());
  // A second sweep of the same experiments is served both from the cache.
  const std::string copy = AddTwoJobSweep("again");
  ASSERT_EQ(store_->GetSweep(copy)->cached, 2);

  absl::StatusOr<Store::Invalidation> out = store_->InvalidateResults("broken");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->results, 2);  // the original and its cached copy
  EXPECT_THAT(out->sweep_ids, ::testing::UnorderedElementsAre(sweep_, copy));
  for (const std::string& id : {sweep_, copy}) {
    absl::StatusOr<SweepRow> row = store_->GetSweep(id);
    EXPECT_EQ(row->counts[static_cast<int>(JobState::kSucceeded)], 1);
    EXPECT_EQ(row->counts[static_cast<int>(JobState::kQueued)], 1);
    EXPECT_EQ((*store_->MetricSamples({id}, "forgetting", "seed", "x"))->size(),
              1u);
  }
  EXPECT_EQ(store_->GetResultBlob(first->lease->job.job_id).status().code(),
            absl::StatusCode::kNotFound);
  // The requeued job is not served from the cache again.
  EXPECT_EQ(store_->InvalidateResults("broken")->results, 0);
}

TEST(StoreFilesTest, DatabaseAndItsWalAreOwnerOnly) {
  fixtures::TempDatabase database;
  // A file left world-readable by an older version is tightened too.
  { std::ofstream(database.path()) << ""; }
  std::filesystem::permissions(database.path(),
                               std::filesystem::perms::owner_read |
                                   std::filesystem::perms::owner_write |
                                   std::filesystem::perms::group_read |
                                   std::filesystem::perms::others_read);
  auto store = Store::Open({database.path()});
  ASSERT_TRUE(store.ok()) << store.status();
  (*store)->RegisterWorker("h", "cpu", 1, {}).IgnoreError();  // WAL in use
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string path = database.path() + suffix;
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    EXPECT_EQ(std::filesystem::status(path).permissions() &
                  std::filesystem::perms::all,
              std::filesystem::perms::owner_read |
                  std::filesystem::perms::owner_write)
        << path;
  }
}

TEST(WorkerQuotaTest, OneTokenCannotRegisterWithoutEndAndSilentWorkersGo) {
  fixtures::TempDatabase database;
  int64_t now = 1'700'000'000'000;
  auto store = OpenWithClock(database.path(), &now);
  ASSERT_TRUE(store.ok()) << store.status();
  auto add = [&](const std::string& token) {
    return (*store)->RegisterWorker("h", "cpu", 1, {}, token, 2);
  };
  ASSERT_TRUE(add("pool").ok());
  ASSERT_TRUE(add("pool").ok());
  absl::StatusOr<std::string> third = add("pool");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(third.status().message()), HasSubstr("'pool'"));
  EXPECT_TRUE(add("other").ok());  // another token is not held up
  // An hour of silence later the pool's old registrations are forgotten.
  now += Store::kForgetWorkersAfterMs + 1;
  EXPECT_TRUE(add("pool").ok());
  EXPECT_EQ((*store)->ListWorkers()->size(), 1u);
}

TEST(QuotaTest, EachOwnerHasQueuedJobSweepRateAndByteQuotas) {
  fixtures::TempDatabase database;
  int64_t now = 1'700'000'000'000;
  auto store = OpenWithClock(database.path(), &now);
  ASSERT_TRUE(store.ok()) << store.status();
  int serial = 0;
  auto sweep = [&](const std::string& owner, int jobs) {
    NewSweep s;
    s.name = "q";
    s.spec = "spec";
    s.owner = owner;
    s.request_id = owner + "/" + std::to_string(serial);
    s.max_queued_jobs = 5;
    s.max_sweeps_per_hour = 3;
    s.max_stored_bytes = 1000;
    for (int i = 0; i < jobs; ++i) {
      s.jobs.push_back({std::string(10, 'j'),
                        absl::StrCat("k", serial, "-", i),
                        {{"seed", static_cast<double>(i)}}});
    }
    ++serial;
    return s;
  };
  bool existing = false;
  ASSERT_TRUE((*store)->CreateSweep(sweep("ann", 4), &existing).ok());
  absl::StatusOr<std::string> over =
      (*store)->CreateSweep(sweep("ann", 2), &existing);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()),
              HasSubstr("'ann' has 4 jobs queued"));
  EXPECT_TRUE((*store)->CreateSweep(sweep("bob", 2), &existing).ok());
  // Sweeps per hour.
  ASSERT_TRUE((*store)->CreateSweep(sweep("bob", 0), &existing).ok());
  NewSweep third = sweep("bob", 0);
  ASSERT_TRUE((*store)->CreateSweep(third, &existing).ok());
  over = (*store)->CreateSweep(sweep("bob", 0), &existing);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("last hour"));
  // A repeated request id still gets its sweep back.
  EXPECT_TRUE((*store)->CreateSweep(third, &existing).ok());
  EXPECT_TRUE(existing);
  now += 3600 * 1000 + 1;
  EXPECT_TRUE((*store)->CreateSweep(sweep("bob", 0), &existing).ok());
  // Bytes stored.
  over = (*store)->CreateSweep(sweep("cy", 0), &existing);
  NewSweep big = sweep("cy", 0);
  big.spec = std::string(2000, 's');
  over = (*store)->CreateSweep(big, &existing);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()),
              HasSubstr("forgetlab delete"));
}

TEST(ListSweepsTest, PagesWalkEverySweepOnceNewestFirst) {
  fixtures::TempDatabase database;
  int64_t now = 1'700'000'000'000;
  auto store = OpenWithClock(database.path(), &now);
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<std::string> made;
  for (int i = 0; i < 7; ++i) {
    NewSweep s;
    s.name = "s" + std::to_string(i);
    s.spec = "spec";
    bool existing = false;
    made.push_back(*(*store)->CreateSweep(s, &existing));
    if (i % 2 == 0) ++now;  // some share a creation time
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    std::string next;
    auto page = (*store)->ListSweeps(3, token, &next);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const SweepRow& row : *page) seen.push_back(row.sweep_id);
    token = next;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  std::reverse(made.begin(), made.end());
  EXPECT_EQ(seen, made);
  // A sweep deleted between the pages' reads is left out, not an error.
  ASSERT_TRUE((*store)->DeleteSweep(made[0]).ok());
  EXPECT_EQ((*store)->ListSweeps(10)->size(), 6u);
}

}  // namespace
}  // namespace forgetlab::storage
