// Shared pretraining end to end: a scheduler on loopback and two workers.
// A sweep that shares pretraining pretrains once per key and gives, to the
// bit, the results of the same sweep with sharing off; an artifact deleted
// behind the server's back is made again.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/fixtures.h"
#include "worker/job_runner.h"
#include "worker/worker_test_fixture.h"

namespace forgetlab {
namespace {

constexpr char kBase[] = R"pb(data { dataset: "synthetic" }
                              pretrain { steps: 60 batch_size: 32 }
                              finetune { steps: 40 batch_size: 16 }
                              eval { eval_every: 20 })pb";
// 2 pretraining sizes x 3 fine-tuning lrs: 2 pretraining keys, 6 jobs.
constexpr char kGrid[] = R"pb(axes {
                                path: "pretrain.examples"
                                values: [ 200, 300 ]
                              }
                              axes {
                                path: "finetune.lr"
                                values: [ 0.01, 0.05, 0.1 ]
                              }
                              seeds: [ 4 ])pb";

void ExpectSameNumbers(const v1::JobResult& a, const v1::JobResult& b) {
  ASSERT_EQ(a.accuracy_matrix_size(), b.accuracy_matrix_size());
  for (int i = 0; i < a.accuracy_matrix_size(); ++i) {
    EXPECT_THAT(a.accuracy_matrix(i).accuracy(),
                ::testing::ElementsAreArray(b.accuracy_matrix(i).accuracy()));
  }
  using Metrics = std::map<std::string, double>;
  EXPECT_EQ(Metrics(a.metrics().begin(), a.metrics().end()),
            Metrics(b.metrics().begin(), b.metrics().end()));
  ASSERT_EQ(a.curves_size(), b.curves_size());
  for (int i = 0; i < a.curves_size(); ++i) {
    EXPECT_THAT(a.curves(i).accuracy(),
                ::testing::ElementsAreArray(b.curves(i).accuracy()));
  }
}

class SharedPretrainingTest : public WorkerTest {
 protected:
  void SetUp() override { StartServer(); }

  v1::SweepStatus Status(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetSweepRequest request;
    request.set_sweep_id(id);
    v1::SweepStatus status;
    EXPECT_TRUE(client_->GetSweep(&ctx, request, &status).ok());
    return status;
  }

  // Runs two one-slot workers, each with a cache of its own, until every
  // sweep is done.
  void RunWorkersUntilDone(const std::vector<std::string>& ids) {
    std::vector<std::unique_ptr<Worker>> workers;
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      Worker::Options options = WorkerOptions(0);
      options.slots = "1";
      options.artifact_cache_dir = absl::StrCat(database_.path(), "-cache", i);
      std::filesystem::remove_all(options.artifact_cache_dir);
      workers.push_back(std::make_unique<Worker>(options));
      threads.emplace_back(
          [w = workers.back().get()] { EXPECT_TRUE(w->Run().ok()); });
    }
    EXPECT_TRUE(fixtures::WaitFor(
        [&] {
          for (const std::string& id : ids) {
            if (Status(id).state() != "DONE") return false;
          }
          return true;
        },
        std::chrono::seconds(120)));
    for (auto& w : workers) w->Stop();
    for (std::thread& t : threads) t.join();
  }

  // Results by their grid point.
  std::map<std::string, v1::JobResult> Results(const std::string& id) {
    grpc::ClientContext ctx;
    v1::ListResultsRequest request;
    request.set_sweep_id(id);
    v1::ListResultsResponse response;
    EXPECT_TRUE(client_->ListResults(&ctx, request, &response).ok());
    std::map<std::string, v1::JobResult> by_point;
    for (const v1::JobResultEntry& entry : response.results()) {
      std::string point;
      for (const auto& [axis, value] : std::map<std::string, double>(
               entry.axis_values().begin(), entry.axis_values().end())) {
        absl::StrAppend(&point, axis, "=", value, " ");
      }
      by_point[point] = entry.result();
    }
    return by_point;
  }

  // Adds fine-tuning lr 0.03 to the sweep; returns the jobs added.
  int AddLr003(const std::string& id) {
    grpc::ClientContext ctx;
    v1::ExtendSweepRequest request;
    request.set_sweep_id(id);
    v1::Axis* axis = request.add_add();
    axis->set_path("finetune.lr");
    axis->add_values(0.03);
    v1::ExtendSweepResponse response;
    EXPECT_TRUE(client_->ExtendSweep(&ctx, request, &response).ok());
    return response.added();
  }

  // Checks each result with fine-tuning lr 0.03 against its job trained
  // alone (pretraining itself) on one thread; returns how many it checked.
  int CheckLr003AgainstAlone(const std::string& id) {
    std::map<int64_t, v1::ExperimentSpec> specs;
    for (const v1::Job& job : Jobs(id)) specs[job.job_id()] = job.spec();
    grpc::ClientContext ctx;
    v1::ListResultsRequest request;
    request.set_sweep_id(id);
    v1::ListResultsResponse results;
    EXPECT_TRUE(client_->ListResults(&ctx, request, &results).ok());
    int checked = 0;
    for (const v1::JobResultEntry& entry : results.results()) {
      if (entry.axis_values().at("finetune.lr") != 0.03) continue;
      train::RunOptions alone;
      alone.threads = 1;
      absl::StatusOr<v1::JobResult> solo =
          RunJob(specs.at(entry.job_id()), alone);
      EXPECT_TRUE(solo.ok()) << solo.status();
      if (!solo.ok()) continue;
      SCOPED_TRACE(absl::StrCat("job ", entry.job_id()));
      ExpectSameNumbers(entry.result(), *solo);
      // It loaded the weights rather than pretraining.
      EXPECT_EQ(entry.result().provenance().pretrain_artifact_sha256().size(),
                64u);
      ++checked;
    }
    return checked;
  }

  v1::ListArtifactsResponse Artifacts() {
    auto stub = v1::ArtifactService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    v1::ListArtifactsResponse response;
    EXPECT_TRUE(stub->ListArtifacts(&ctx, {}, &response).ok());
    return response;
  }
};

TEST_F(SharedPretrainingTest, PretrainsOncePerKeyWithTheUnsharedNumbers) {
  const std::string shared = Submit(kBase, kGrid);
  // The same grid, trained again (not served from the cache) unshared.
  const std::string unshared = Submit(
      kBase, absl::StrCat(kGrid, " share_pretraining: false rerun: true"));
  v1::SweepStatus before = Status(shared);
  EXPECT_EQ(before.total(), 8);
  EXPECT_EQ(before.pretraining(), 2);
  EXPECT_EQ(before.awaiting_pretraining(), 6);
  EXPECT_EQ(before.queued(), 2);
  EXPECT_EQ(Status(unshared).total(), 6);
  EXPECT_EQ(Status(unshared).pretraining(), 0);

  RunWorkersUntilDone({shared, unshared});

  int pretraining = 0;
  for (const v1::Job& job : Jobs(shared)) {
    EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.error();
    EXPECT_EQ(job.artifact_key().size(), 64u);
    pretraining += job.kind() == "pretrain";
  }
  EXPECT_EQ(pretraining, 2);
  for (const v1::Job& job : Jobs(unshared)) {
    EXPECT_EQ(job.kind(), "experiment");
    EXPECT_EQ(job.artifact_key(), "");
  }
  const std::map<std::string, v1::JobResult> a = Results(shared);
  const std::map<std::string, v1::JobResult> b = Results(unshared);
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  for (const auto& [point, result] : a) {
    SCOPED_TRACE(point);
    ASSERT_EQ(b.count(point), 1u);
    ExpectSameNumbers(result, b.at(point));
    // Each shared result names the weights it loaded; none pretrained.
    EXPECT_EQ(result.provenance().pretrain_artifact_sha256().size(), 64u);
    EXPECT_EQ(result.provenance().pretrain_threads(), 1);
    EXPECT_EQ(result.provenance().pretrain_device(), "cpu");
    EXPECT_EQ(b.at(point).provenance().pretrain_artifact_sha256(), "");
  }
  const v1::ListArtifactsResponse artifacts = Artifacts();
  ASSERT_EQ(artifacts.artifacts_size(), 2);
  for (const v1::Artifact& artifact : artifacts.artifacts()) {
    EXPECT_EQ(artifact.needed_by(), 0);
    EXPECT_THAT(artifact.sweep_ids(), ::testing::ElementsAre(shared));
    EXPECT_GT(artifact.size_bytes(), 0);
  }

  // A later sweep with the same pretraining reuses the artifacts, as it
  // would reuse results: it queues its experiments at once.
  const std::string later = Submit(kBase, R"pb(axes {
                                                 path: "pretrain.examples"
                                                 values: [ 200, 300 ]
                                               }
                                               axes {
                                                 path: "finetune.lr"
                                                 values: [ 0.02 ]
                                               }
                                               seeds: [ 4 ])pb");
  v1::SweepStatus reused = Status(later);
  EXPECT_EQ(reused.total(), 2);
  EXPECT_EQ(reused.pretraining(), 0);
  EXPECT_EQ(reused.queued(), 2);
}

TEST_F(SharedPretrainingTest,
       AnArtifactDeletedBehindTheServersBackIsMadeAgain) {
  const std::string id = Submit(kBase, kGrid);
  RunWorkersUntilDone({id});
  const v1::ListArtifactsResponse artifacts = Artifacts();
  ASSERT_EQ(artifacts.artifacts_size(), 2);
  // Both files go; the database still lists them.
  for (const v1::Artifact& artifact : artifacts.artifacts()) {
    ASSERT_TRUE(std::filesystem::remove(
        absl::StrCat(database_.path(), "-artifacts/", artifact.key(), ".pt")));
  }
  // New fine-tuning lrs need them: the first download finds no file, and
  // the pretraining runs again instead of any job failing.
  EXPECT_EQ(AddLr003(id), 2);
  RunWorkersUntilDone({id});
  int pretraining = 0;
  for (const v1::Job& job : Jobs(id)) {
    EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.error();
    pretraining += job.kind() == "pretrain";
  }
  EXPECT_EQ(pretraining, 4);  // 2, and 2 again
  EXPECT_EQ(Artifacts().artifacts_size(), 2);
  // The new jobs' numbers are still those of a job that pretrains itself.
  EXPECT_EQ(CheckLr003AgainstAlone(id), 2);
}

TEST_F(SharedPretrainingTest, AnExtensionLoadsWhatAOneJobKeyPretrained) {
  const std::string id = Submit(kBase, R"pb(axes {
                                              path: "pretrain.examples"
                                              values: [ 200, 300 ]
                                            }
                                            seeds: [ 4 ])pb");
  EXPECT_EQ(Status(id).pretraining(), 0);
  EXPECT_EQ(Status(id).queued(), 2);
  RunWorkersUntilDone({id});
  EXPECT_EQ(Artifacts().artifacts_size(), 2);

  EXPECT_EQ(AddLr003(id), 2);
  EXPECT_EQ(Status(id).queued(), 2);  // nothing to wait for
  RunWorkersUntilDone({id});
  for (const v1::Job& job : Jobs(id)) {
    EXPECT_EQ(job.kind(), "experiment");
    EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.error();
  }
  EXPECT_EQ(CheckLr003AgainstAlone(id), 2);
}

}  // namespace
}  // namespace forgetlab
