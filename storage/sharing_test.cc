// Shared pretraining in the store: which jobs wait, and how waiting jobs get
// out when their artifact is made, will not be made, or is lost.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "storage/store.h"
#include "tests/fixtures.h"

namespace forgetlab::storage {
namespace {

class SharingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Store::Options options;
    options.path = database_.path();
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<std::string> worker =
        store_->RegisterWorker("host", "cpu", 1, {});
    ASSERT_TRUE(worker.ok());
    worker_ = *worker;
  }

  // A sweep whose job i needs pretraining key keys[i] ("" for none).
  std::string AddSweep(const std::vector<std::string>& keys,
                       int max_attempts = 3) {
    NewSweep sweep;
    sweep.name = "sharing";
    sweep.spec = "spec";
    sweep.max_attempts = max_attempts;
    for (size_t i = 0; i < keys.size(); ++i) {
      sweep.jobs.push_back({"spec" + std::to_string(i) + keys[i],
                            "key" + std::to_string(serial_++),
                            {{"finetune.lr", 0.01 * static_cast<double>(i)},
                             {"pretrain.examples", 100}},
                            "",
                            keys[i]});
    }
    bool existing = false;
    absl::StatusOr<std::string> id = store_->CreateSweep(sweep, &existing);
    EXPECT_TRUE(id.ok()) << id.status();
    return *id;
  }

  std::vector<JobRow> Jobs(const std::string& sweep_id) {
    return *store_->ListJobs(sweep_id, std::nullopt, 0, 1000);
  }
  // "kind:state:key" of each job, in job order.
  std::vector<std::string> Summary(const std::string& sweep_id) {
    std::vector<std::string> out;
    for (const JobRow& j : Jobs(sweep_id)) {
      out.push_back(j.kind + ":" + JobStateName(j.state) + ":" +
                    j.artifact_key);
    }
    return out;
  }

  Lease MustLease(const std::vector<std::string>& held = {}) {
    absl::StatusOr<std::optional<Lease>> lease =
        store_->LeaseJob(worker_, 60000, held);
    EXPECT_TRUE(lease.ok() && lease->has_value());
    return **lease;
  }
  LeaseCredentials Who(const Lease& lease) {
    return {lease.job.worker_id, "", lease.key};
  }
  absl::Status StoreArtifact(const Lease& lease) {
    ArtifactRow row;
    row.sha256 = std::string(64, 'a');
    row.size_bytes = 10;
    return store_->StoreArtifact(lease.job.job_id, Who(lease), row).status();
  }

  fixtures::TempDatabase database_;
  std::unique_ptr<Store> store_;
  std::string worker_;
  int serial_ = 0;
};

using ::testing::ElementsAre;

TEST_F(SharingTest, AKeyOfOneJobIsPretrainedAndUploadedByIt) {
  const std::string id = AddSweep({"k1", "k2", "k2", ""});
  EXPECT_THAT(Summary(id),
              ElementsAre("pretrain:QUEUED:k2", "experiment:QUEUED:k1",
                          "experiment:WAITING:k2", "experiment:WAITING:k2",
                          "experiment:QUEUED:"));
  absl::StatusOr<SweepRow> sweep = store_->GetSweep(id);
  EXPECT_EQ(sweep->pretraining, 1);
  EXPECT_FALSE(sweep->done());
  EXPECT_FALSE(MustLease().upload_pretraining);  // the pretraining job
  // k1's one job pretrains itself and keeps the weights, under its lease.
  const Lease self = MustLease();
  EXPECT_EQ(self.job.artifact_key, "k1");
  EXPECT_TRUE(self.upload_pretraining);
  ASSERT_TRUE(StoreArtifact(self).ok());
  EXPECT_EQ(store_->GetJob(self.job.job_id)->state, JobState::kLeased);
  EXPECT_EQ(StoreArtifact(self).code(), absl::StatusCode::kAlreadyExists);
  // A job that does not share has nothing to upload.
  const Lease plain = MustLease();
  EXPECT_EQ(plain.job.artifact_key, "");
  EXPECT_FALSE(plain.upload_pretraining);
  EXPECT_EQ(
      store_->PretrainingToUpload(plain.job.job_id, Who(plain)).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST_F(SharingTest, TheArtifactQueuesItsWaitersAndALaterSweepReusesIt) {
  const std::string id = AddSweep({"k", "k"});
  const Lease pretrain = MustLease();
  ASSERT_EQ(pretrain.job.kind, "pretrain");
  // Only an upload ends a pretraining job; a result cannot.
  ResultRecord result;
  result.blob = "x";
  EXPECT_EQ(fixtures::Await<absl::Status>([&](auto done) {
              store_->CompleteJob(pretrain.job.job_id, Who(pretrain), result,
                                  nullptr, done);
            }).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(StoreArtifact(pretrain).ok());
  EXPECT_THAT(Summary(id),
              ElementsAre("pretrain:SUCCEEDED:k", "experiment:QUEUED:k",
                          "experiment:QUEUED:k"));
  // One job is enough to reuse a stored artifact.
  const std::string later = AddSweep({"k"});
  EXPECT_THAT(Summary(later), ElementsAre("experiment:QUEUED:k"));
  // Needed: not evictable.
  EXPECT_TRUE(store_->EvictableArtifacts()->empty());
  EXPECT_FALSE(*store_->EvictArtifact("k"));
}

TEST_F(SharingTest, AFailedPretrainingLetsItsWaitersPretrainThemselves) {
  const std::string id = AddSweep({"k", "k"});
  const Lease pretrain = MustLease();
  ASSERT_TRUE(fixtures::Await<absl::Status>([&](auto done) {
                store_->FailJob(pretrain.job.job_id, Who(pretrain),
                                "out of memory", false, done);
              }).ok());
  EXPECT_THAT(Summary(id),
              ElementsAre("pretrain:FAILED:k",
                          "experiment:QUEUED:", "experiment:QUEUED:"));
}

TEST_F(SharingTest, CancellingOneSweepFreesTheOtherSweepsWaiters) {
  const std::string first = AddSweep({"k", "k"});
  const std::string second = AddSweep({"k", "k"});  // waits for first's
  EXPECT_THAT(Summary(second),
              ElementsAre("experiment:WAITING:k", "experiment:WAITING:k"));
  ASSERT_TRUE(store_->CancelSweep(first, {}).ok());
  EXPECT_THAT(Summary(first),
              ElementsAre("pretrain:CANCELLED:k", "experiment:CANCELLED:k",
                          "experiment:CANCELLED:k"));
  EXPECT_THAT(Summary(second),
              ElementsAre("experiment:QUEUED:", "experiment:QUEUED:"));
}

TEST_F(SharingTest, ALostArtifactMakesANewPretrainingJob) {
  const std::string id = AddSweep({"k", "k", "k"});
  const Lease pretrain = MustLease();
  ASSERT_TRUE(StoreArtifact(pretrain).ok());
  const Lease first = MustLease();
  const Lease second = MustLease();
  // First's download found no file: it waits again, its attempt not used;
  // the queued job waits too, and second keeps its lease (and its copy).
  absl::StatusOr<ArtifactOutcome> lost =
      store_->LoseArtifact("k", first.job.job_id, Who(first), "file missing");
  ASSERT_TRUE(lost.ok()) << lost.status();
  EXPECT_EQ(lost->waiting, 2);
  EXPECT_THAT(Summary(id),
              ElementsAre("pretrain:SUCCEEDED:k", "experiment:WAITING:k",
                          "experiment:LEASED:k", "experiment:WAITING:k",
                          "pretrain:QUEUED:k"));
  EXPECT_EQ(store_->GetJob(first.job.job_id)->attempt, 0);
  EXPECT_FALSE(store_->GetArtifact("k")->has_value());
  // A lease that is not the caller's is not the caller's to give back.
  LeaseCredentials thief = Who(second);
  thief.lease_key = std::string(32, '0');
  EXPECT_EQ(
      store_->LoseArtifact("k", second.job.job_id, thief, "").status().code(),
      absl::StatusCode::kAborted);
  EXPECT_EQ(store_->GetJob(second.job.job_id)->state, JobState::kLeased);
}

TEST_F(SharingTest, LeasingPrefersAJobWhoseArtifactTheWorkerHas) {
  const std::string id = AddSweep({"a", "a", "b", "b"});
  ASSERT_TRUE(StoreArtifact(MustLease()).ok());  // a
  ASSERT_TRUE(StoreArtifact(MustLease()).ok());  // b
  // FIFO would give an "a" job; the worker has "b".
  const Lease lease = MustLease({"b"});
  EXPECT_EQ(lease.job.artifact_key, "b");
  EXPECT_EQ(MustLease().job.artifact_key, "a");
}

TEST_F(SharingTest, RetryWaitsForAnArtifactThatIsGone) {
  const std::string id = AddSweep({"k", "k"}, /*max_attempts=*/1);
  ASSERT_TRUE(store_->CancelSweep(id, {}).ok());
  ASSERT_TRUE(store_->RetrySweep(id).ok());
  // The cancelled pretraining job is not retried; a new one is made.
  EXPECT_THAT(Summary(id),
              ElementsAre("pretrain:CANCELLED:k", "experiment:WAITING:k",
                          "experiment:WAITING:k", "pretrain:QUEUED:k"));
}

}  // namespace
}  // namespace forgetlab::storage
