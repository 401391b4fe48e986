// The artifact service over gRPC with tokens: only the lease holder uploads
// or downloads, an upload is stored whole and checked or not at all, the
// limits hold, and only an admin deletes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "proto/net/sha256.h"
#include "server/auth_test_fixture.h"
#include "tests/fixtures.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

class ArtifactServiceTest : public AuthTest {
 protected:
  void SetUp() override {
    AuthTest::SetUp();
    // Again with small limits: artifacts of at most 1 KiB, 2500 bytes in all.
    options_.artifact_max_bytes = 1024;
    options_.artifact_quota_bytes = 2500;
    Restart();
  }

  std::string Register(const std::string& who) {
    v1::RegisterWorkerRequest r;
    r.set_host(who);
    r.set_device("cpu");
    v1::RegisterWorkerResponse out;
    EXPECT_TRUE(worker_->RegisterWorker(As(who).get(), r, &out).ok());
    return out.worker_id();
  }

  v1::LeaseJobResponse Lease(const std::string& who,
                             const std::string& worker_id) {
    v1::LeaseJobRequest r;
    r.set_worker_id(worker_id);
    v1::LeaseJobResponse out;
    EXPECT_TRUE(worker_->LeaseJob(As(who).get(), r, &out).ok());
    EXPECT_TRUE(out.has_job());
    return out;
  }

  // Uploads `bytes` in two messages, announcing `sha` and `size`.
  grpc::Status Upload(const std::string& who, const std::string& worker_id,
                      const v1::LeaseJobResponse& lease,
                      const std::string& bytes, const std::string& sha,
                      int64_t size) {
    v1::UploadArtifactResponse out;
    auto ctx = As(who);
    auto writer = artifacts_->UploadArtifact(ctx.get(), &out);
    v1::UploadArtifactRequest r;
    r.set_worker_id(worker_id);
    r.set_job_id(lease.job().job_id());
    r.set_lease_token(lease.lease_token());
    r.set_sha256(sha);
    r.set_size_bytes(size);
    r.set_device("cpu");
    r.set_threads(1);
    r.set_data(bytes.substr(0, bytes.size() / 2));
    writer->Write(r);
    r.Clear();
    r.set_data(bytes.substr(bytes.size() / 2));
    writer->Write(r);
    writer->WritesDone();
    return writer->Finish();
  }

  // Downloads into *bytes.
  grpc::Status Download(const std::string& who, const std::string& worker_id,
                        const v1::LeaseJobResponse& lease, std::string* bytes,
                        std::string* sha = nullptr) {
    v1::DownloadArtifactRequest r;
    r.set_worker_id(worker_id);
    r.set_job_id(lease.job().job_id());
    r.set_lease_token(lease.lease_token());
    auto ctx = As(who);
    auto reader = artifacts_->DownloadArtifact(ctx.get(), r);
    v1::DownloadArtifactResponse chunk;
    bytes->clear();
    while (reader->Read(&chunk)) {
      if (sha != nullptr && !chunk.sha256().empty()) *sha = chunk.sha256();
      bytes->append(chunk.data());
    }
    return reader->Finish();
  }

  std::vector<std::string> FolderFiles() {
    std::vector<std::string> names;
    for (const auto& entry :
         std::filesystem::directory_iterator(options_.db_path + "-artifacts")) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }
};

std::string ShaOf(const std::string& bytes) {
  Sha256 hash;
  hash.Update(bytes);
  return hash.HexDigest();
}

TEST_F(ArtifactServiceTest, OnlyTheLeaseHolderMovesArtifactsAndLimitsHold) {
  v1::SubmitSweepResponse submitted;
  ASSERT_TRUE(Submit("carol", fixtures::ParseSweep(R"pb(
                       base {
                         data { dataset: "synthetic" }
                         pretrain { examples: 100 }
                       }
                       axes {
                         path: "finetune.lr"
                         values: [ 0.01, 0.02, 0.03 ]
                       })pb"),
                     &submitted)
                  .ok());
  const std::string honest = Register("w1");
  const std::string thief = Register("w2");
  const v1::LeaseJobResponse pretrain = Lease("w1", honest);
  ASSERT_EQ(pretrain.job().kind(), "pretrain");
  const std::string weights(600, 'w');
  const std::string sha = ShaOf(weights);

  // Another token, as the honest worker or as itself with the real lease
  // token: refused, naming nothing.
  EXPECT_EQ(Upload("w2", honest, pretrain, weights, sha, 600).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status stolen = Upload("w2", thief, pretrain, weights, sha, 600);
  EXPECT_EQ(stolen.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(stolen.error_message(),
              ::testing::Not(HasSubstr(pretrain.lease_token())));
  // The holder, with bytes that are not what it announced, too few bytes,
  // or too many for the server's limit: nothing is stored.
  EXPECT_EQ(
      Upload("w1", honest, pretrain, weights, ShaOf("other"), 600).error_code(),
      grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(Upload("w1", honest, pretrain, weights, sha, 700).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status big = Upload("w1", honest, pretrain, std::string(2000, 'w'),
                            ShaOf(std::string(2000, 'w')), 2000);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(big.error_message(), HasSubstr("--artifact_max_bytes"));
  EXPECT_THAT(FolderFiles(), ::testing::IsEmpty());
  v1::ListArtifactsResponse list;
  ASSERT_TRUE(artifacts_->ListArtifacts(As("carol").get(), {}, &list).ok());
  EXPECT_EQ(list.artifacts_size(), 0);

  // Whole and checked: stored, and the waiting experiments are queued.
  ASSERT_TRUE(Upload("w1", honest, pretrain, weights, sha, 600).ok());
  ASSERT_TRUE(artifacts_->ListArtifacts(As("carol").get(), {}, &list).ok());
  ASSERT_EQ(list.artifacts_size(), 1);
  EXPECT_EQ(list.artifacts(0).sha256(), sha);
  EXPECT_EQ(list.artifacts(0).worker_token_name(), "w1");
  EXPECT_EQ(list.artifacts(0).needed_by(), 3);
  EXPECT_THAT(FolderFiles(),
              ::testing::ElementsAre(list.artifacts(0).key() + ".pt"));

  // An experiment's artifact goes to its lease holder only.
  const v1::LeaseJobResponse experiment = Lease("w1", honest);
  ASSERT_EQ(experiment.job().kind(), "experiment");
  std::string got, got_sha;
  EXPECT_EQ(Download("w2", honest, experiment, &got).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Download("w2", thief, experiment, &got).error_code(),
            grpc::StatusCode::ABORTED);
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(Download("w1", honest, experiment, &got, &got_sha).ok());
  EXPECT_EQ(got, weights);
  EXPECT_EQ(got_sha, sha);
  // An experiment whose weights are stored has nothing to upload.
  EXPECT_EQ(Upload("w1", honest, experiment, weights, sha, 600).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  // Deleting is for admins; the jobs still queued wait for a new
  // pretraining job, and the leased one keeps its lease.
  v1::DeleteArtifactRequest remove;
  remove.set_key(list.artifacts(0).key());
  v1::DeleteArtifactResponse removed;
  EXPECT_EQ(artifacts_->DeleteArtifact(As("carol").get(), remove, &removed)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  remove.set_key("../../etc/passwd");
  EXPECT_EQ(artifacts_->DeleteArtifact(As("root").get(), remove, &removed)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  remove.set_key(list.artifacts(0).key());
  ASSERT_TRUE(
      artifacts_->DeleteArtifact(As("root").get(), remove, &removed).ok());
  EXPECT_EQ(removed.size_bytes(), 600);
  EXPECT_EQ(removed.waiting(), 2);
  EXPECT_THAT(FolderFiles(), ::testing::IsEmpty());
  v1::GetSweepRequest get;
  get.set_sweep_id(submitted.sweep_id());
  v1::SweepStatus status;
  ASSERT_TRUE(client_->GetSweep(As("carol").get(), get, &status).ok());
  EXPECT_EQ(status.awaiting_pretraining(), 2);
  EXPECT_EQ(status.leased(), 1);
  EXPECT_EQ(status.queued(), 1);  // the new pretraining job
  EXPECT_EQ(status.pretraining(), 2);
}

TEST_F(ArtifactServiceTest, TheQuotaEvictsWhatNoJobNeedsLeastRecentFirst) {
  // Three sweeps of two jobs each, one pretraining key apiece.
  const std::string worker = Register("w1");
  std::vector<std::string> keys;
  for (int seed = 0; seed < 3; ++seed) {
    v1::SubmitSweepResponse submitted;
    ASSERT_TRUE(
        Submit(
            "carol",
            fixtures::ParseSweep(absl::StrCat(
                R"pb(
                  base { data { dataset: "synthetic" }
                         pretrain { examples: 100 }
                         seed:)pb",
                seed,
                R"pb(}
                     axes { path: "finetune.lr" values: [ 0.01, 0.02 ] })pb")),
            &submitted)
            .ok());
    const v1::LeaseJobResponse pretrain = Lease("w1", worker);
    ASSERT_EQ(pretrain.job().kind(), "pretrain");
    const std::string weights(1000 + seed, 'w');
    ASSERT_TRUE(
        Upload("w1", worker, pretrain, weights, ShaOf(weights), weights.size())
            .ok());
    keys.push_back(pretrain.job().artifact_key());
    // Its two experiments run (and so stop needing it).
    for (int i = 0; i < 2; ++i) {
      const v1::LeaseJobResponse lease = Lease("w1", worker);
      v1::FailJobRequest fail;
      fail.set_worker_id(worker);
      fail.set_job_id(lease.job().job_id());
      fail.set_lease_token(lease.lease_token());
      fail.set_error("done with it");
      v1::FailJobResponse failed;
      ASSERT_TRUE(worker_->FailJob(As("w1").get(), fail, &failed).ok());
    }
  }
  // 2500 bytes hold two of them: the third evicted the oldest.
  v1::ListArtifactsResponse list;
  ASSERT_TRUE(artifacts_->ListArtifacts(As("carol").get(), {}, &list).ok());
  std::vector<std::string> kept;
  for (const v1::Artifact& a : list.artifacts()) kept.push_back(a.key());
  EXPECT_THAT(kept, ::testing::UnorderedElementsAre(keys[1], keys[2]));
  EXPECT_LE(list.total_bytes(), 2500);
}

// A stolen worker token's weights are as suspect as its results: invalidating
// the token drops the results that loaded them, even those another token's
// worker produced, and the artifact itself.
TEST_F(ArtifactServiceTest, InvalidatingATokenDropsItsWeightsAndWhatUsedThem) {
  v1::SubmitSweepResponse submitted;
  ASSERT_TRUE(Submit("carol", fixtures::ParseSweep(R"pb(
                       base {
                         data { dataset: "synthetic" }
                         pretrain { examples: 100 }
                       }
                       axes {
                         path: "finetune.lr"
                         values: [ 0.01, 0.02 ]
                       })pb"),
                     &submitted)
                  .ok());
  const std::string bad = Register("w1");
  const std::string good = Register("w2");
  const v1::LeaseJobResponse pretrain = Lease("w1", bad);
  const std::string weights(500, 'p');
  ASSERT_TRUE(Upload("w1", bad, pretrain, weights, ShaOf(weights), 500).ok());
  // w2's worker fine-tunes on w1's weights and reports an honest result.
  const v1::LeaseJobResponse experiment = Lease("w2", good);
  ASSERT_EQ(experiment.job().artifact_key(), pretrain.job().artifact_key());
  v1::CompleteJobRequest complete;
  complete.set_worker_id(good);
  complete.set_job_id(experiment.job().job_id());
  complete.set_lease_token(experiment.lease_token());
  for (int i = 0; i < 2; ++i) {
    auto* row = complete.mutable_result()->add_accuracy_matrix();
    row->add_accuracy(0.5);
    row->add_accuracy(0.5);
  }
  (*complete.mutable_result()->mutable_metrics())["forgetting"] = 0.0;
  complete.mutable_result()->set_parameter_count(100);
  v1::CompleteJobResponse completed;
  grpc::Status s = worker_->CompleteJob(As("w2").get(), complete, &completed);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::InvalidateResultsRequest invalidate;
  invalidate.set_worker_token_name("w1");
  v1::InvalidateResultsResponse dropped;
  ASSERT_TRUE(
      client_->InvalidateResults(As("root").get(), invalidate, &dropped).ok());
  EXPECT_EQ(dropped.invalidated(), 1);  // w2's result, from w1's weights
  EXPECT_EQ(dropped.artifacts(), 1);
  v1::ListArtifactsResponse list;
  ASSERT_TRUE(artifacts_->ListArtifacts(As("carol").get(), {}, &list).ok());
  EXPECT_EQ(list.artifacts_size(), 0);
  EXPECT_THAT(FolderFiles(), ::testing::IsEmpty());
  // Both experiments wait for a new pretraining job.
  v1::GetSweepRequest get;
  get.set_sweep_id(submitted.sweep_id());
  v1::SweepStatus status;
  ASSERT_TRUE(client_->GetSweep(As("carol").get(), get, &status).ok());
  EXPECT_EQ(status.succeeded(), 1);  // the first pretraining job, kept
  EXPECT_EQ(status.awaiting_pretraining(), 2);
  EXPECT_EQ(status.queued(), 1);
  EXPECT_EQ(status.pretraining(), 2);
}

}  // namespace
}  // namespace forgetlab
