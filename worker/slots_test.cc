// A worker with several slots: jobs train side by side, and each result is
// the one the job gives alone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/fixtures.h"
#include "worker/job_runner.h"
#include "worker/worker_test_fixture.h"

namespace forgetlab {
namespace {

class SlotsTest : public WorkerTest {
 protected:
  void SetUp() override { StartServer(); }

  Worker::Options Options(const std::string& slots, int max_jobs) {
    Worker::Options options = WorkerOptions(max_jobs);
    options.slots = slots;
    return options;
  }
};

// Four model sizes and two seeds, trained two at a time: every result equals,
// bit for bit, the same job trained alone with the same thread count.
TEST_F(SlotsTest, AJobInAFullWorkerIsBitIdenticalToItAlone) {
  const std::string id = Submit(
      R"pb(data { dataset: "synthetic" }
           pretrain { examples: 300 steps: 60 batch_size: 32 }
           finetune { steps: 60 batch_size: 16 }
           eval { eval_every: 20 })pb",
      R"pb(axes {
             path: "model.width"
             values: [ 8, 16, 32, 64 ]
           }
           seeds: [ 0, 1 ])pb");
  Worker worker(Options("2", 8));
  ASSERT_TRUE(worker.Run().ok());

  grpc::ClientContext ctx;
  v1::ListResultsRequest request;
  request.set_sweep_id(id);
  v1::ListResultsResponse results;
  ASSERT_TRUE(client_->ListResults(&ctx, request, &results).ok());
  ASSERT_EQ(results.results_size(), 8);
  std::map<int64_t, v1::Job> jobs;
  std::set<std::string> workers;
  for (v1::Job& job : Jobs(id)) {
    workers.insert(job.worker_id());
    jobs[job.job_id()] = std::move(job);
  }
  EXPECT_EQ(workers.size(), 2u);  // both slots trained
  for (const v1::JobResultEntry& entry : results.results()) {
    const v1::JobResult& shared = entry.result();
    train::RunOptions alone;
    alone.threads = 1;
    absl::StatusOr<v1::JobResult> solo =
        RunJob(jobs.at(entry.job_id()).spec(), alone);
    ASSERT_TRUE(solo.ok()) << solo.status();
    SCOPED_TRACE(absl::StrCat("job ", entry.job_id()));
    ASSERT_EQ(shared.accuracy_matrix_size(), solo->accuracy_matrix_size());
    for (int i = 0; i < shared.accuracy_matrix_size(); ++i) {
      EXPECT_THAT(
          shared.accuracy_matrix(i).accuracy(),
          ::testing::ElementsAreArray(solo->accuracy_matrix(i).accuracy()));
    }
    EXPECT_EQ(shared.metrics().at("forgetting"),
              solo->metrics().at("forgetting"));
    EXPECT_EQ(shared.metrics().at("pretrain_accuracy"),
              solo->metrics().at("pretrain_accuracy"));
    ASSERT_EQ(shared.curves_size(), solo->curves_size());
    for (int i = 0; i < shared.curves_size(); ++i) {
      EXPECT_THAT(shared.curves(i).accuracy(),
                  ::testing::ElementsAreArray(solo->curves(i).accuracy()));
    }
    EXPECT_EQ(shared.provenance().threads(), 1);
  }
}

TEST_F(SlotsTest, StopGivesEverySlotsLeaseBack) {
  const std::string id = Submit(R"pb(
                                  model { width: 64 }
                                  data { dataset: "synthetic" }
                                  pretrain { examples: 500 steps: 1000000 }
                                )pb",
                                "seeds: [0, 1, 2]");
  Worker worker(Options("2", 0));
  std::thread run([&] { EXPECT_TRUE(worker.Run().ok()); });
  // Both slots train: each lease is held by the worker (its heartbeat
  // reported progress), not only granted by the server. A lease granted
  // while the worker stops, in a poll it cancels, never reaches it and
  // expires instead.
  ASSERT_TRUE(fixtures::WaitFor([&] {
    int training = 0;
    for (const v1::Job& job : Jobs(id)) {
      training += job.state() == v1::LEASED && job.progress().step() > 0;
    }
    return training == 2;
  }));
  const auto stop_time = std::chrono::steady_clock::now();
  worker.Stop();
  run.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_time,
            std::chrono::seconds(5));
  for (const v1::Job& job : Jobs(id)) {
    EXPECT_EQ(job.state(), v1::QUEUED);
    EXPECT_EQ(job.attempt(), 0);  // handed back untried
  }
}

// --slots=auto on a GPU: jobs at once by measured throughput, within the
// device's memory. Every job runs once, on the GPU.
TEST_F(SlotsTest, AutoOnAGpuRunsEveryJobOnce) {
  if (!train::CudaAvailable()) {
    GTEST_SKIP() << "no CUDA device in this build or machine";
  }
  const std::string id = Submit(
      R"pb(data { dataset: "synthetic" }
           pretrain { examples: 300 steps: 200 batch_size: 32 }
           finetune { steps: 200 batch_size: 16 }
           eval { eval_every: 50 })pb",
      R"pb(axes {
             path: "model.width"
             values: [ 16, 64 ]
           }
           seeds: [ 0, 1, 2, 3 ])pb");
  Worker::Options options = Options("auto", 8);
  options.device = "cuda";
  Worker worker(options);
  ASSERT_TRUE(worker.Run().ok());
  std::set<std::string> workers;
  for (const v1::Job& job : Jobs(id)) {
    EXPECT_EQ(job.state(), v1::SUCCEEDED);
    EXPECT_EQ(job.attempt(), 1);
    workers.insert(job.worker_id());
  }
  EXPECT_GE(workers.size(), 1u);
}

TEST_F(SlotsTest, AnOddSlotCountIsRefusedByName) {
  Worker worker(Options("two", 1));
  absl::Status s = worker.Run();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("--slots=two"));
}

}  // namespace
}  // namespace forgetlab
