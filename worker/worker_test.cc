#include "worker/worker.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "google/protobuf/text_format.h"
#include "server/auth.h"
#include "server/scheduler.h"
#include "tests/fixtures.h"
#include "worker/job_runner.h"
#include "worker/worker_test_fixture.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

// A quick synthetic experiment: a few dozen steps on 8x8 images.
constexpr char kQuickBase[] = R"pb(
  model { width: 16 }
  data { dataset: "synthetic" }
  pretrain { examples: 200 steps: 40 batch_size: 32 }
  finetune { steps: 40 batch_size: 16 }
  eval { eval_every: 20 }
)pb";

TEST_F(WorkerTest, TrainsJobsAndUploadsResults) {
  StartServer();
  const std::string id = Submit(kQuickBase, "seeds: [0, 1]");
  Worker worker(WorkerOptions(2));
  ASSERT_TRUE(worker.Run().ok());
  for (const v1::Job& job : Jobs(id)) {
    EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.error();
    EXPECT_EQ(job.attempt(), 1);
  }
  grpc::ClientContext ctx;
  v1::QueryTableRequest request;
  request.add_sweep_ids(id);
  request.set_metric("acc");
  v1::Table table;
  ASSERT_TRUE(client_->QueryTable(&ctx, request, &table).ok());
  ASSERT_EQ(table.cells_size(), 1);
  EXPECT_EQ(table.cells(0).n(), 2);
  EXPECT_GT(table.cells(0).mean(), 0.3);  // well above chance (0.2)
  // 64 inputs -> 16 -> 16 plus two 5-way heads.
  EXPECT_EQ(table.rows(0).parameter_count(),
            64 * 16 + 16 + 16 * 16 + 16 + 2 * (16 * 5 + 5));
}

TEST_F(WorkerTest, TrainingErrorFailsTheJobWithTheReason) {
  StartServer();
  // A worker without the dataset: the job fails, naming the file and the
  // package to install. (Non-finite losses are covered by trainer_test.)
  const std::string id = Submit(
      R"pb(model { width: 16 }
           data { dataset: "fashion_mnist" path: "/nonexistent/fmnist" })pb",
      "");
  Worker worker(WorkerOptions(1));
  ASSERT_TRUE(worker.Run().ok());
  std::vector<v1::Job> jobs = Jobs(id);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::FAILED);
  EXPECT_THAT(jobs[0].error(), HasSubstr("no IDX folder /nonexistent/fmnist"));
  EXPECT_THAT(jobs[0].error(), HasSubstr("dataset-fashion-mnist"));
}

TEST_F(WorkerTest, DataOutsideTheRootsFailsTheJob) {
  StartServer();
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / "worker_roots";
  std::filesystem::create_directories(dir / "root");
  std::filesystem::create_directories(dir / "elsewhere");
  const std::string id =
      Submit(absl::StrCat(R"pb(model { width: 16 }
                               data { dataset: "idx" path: ")pb",
                          (dir / "elsewhere").string(), "\" }"),
             "");
  Worker::Options options = WorkerOptions(1);
  options.data_roots = {(dir / "root").string()};
  options.datasets = {"idx"};
  Worker worker(options);
  ASSERT_TRUE(worker.Run().ok());
  std::vector<v1::Job> jobs = Jobs(id);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::FAILED);
  EXPECT_THAT(jobs[0].error(), HasSubstr("outside this worker's --data_roots"));
  EXPECT_EQ(jobs[0].attempt(), 1);
}

TEST_F(WorkerTest, ARefusedTokenStopsTheWorkerWithTheReason) {
  const std::string tokens =
      (std::filesystem::path(testing::TempDir()) / "worker_tokens").string();
  std::filesystem::remove(tokens);
  absl::StatusOr<std::string> client = AddToken(tokens, Role::kClient, "c");
  ASSERT_TRUE(client.ok());
  StartServer(0, tokens);
  Worker::Options options = WorkerOptions(0);
  options.token = "flt_not-a-token";
  absl::Status s = Worker(options).Run();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("unknown token"));
  options.token = *client;  // a client's token is not a worker's
  s = Worker(options).Run();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("role client"));
}

TEST(DataRootsTest, LinksThatLeadOutOfARootAreRefused) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::TempDir()) / "data_roots_links";
  fs::remove_all(dir);
  fs::create_directories(dir / "root/mnist");
  fs::create_directories(dir / "secret");
  fs::create_directory_symlink(dir / "secret", dir / "root/escape");
  fs::create_directory_symlink(dir / "root/mnist", dir / "root/alias");
  const std::vector<std::string> roots = {(dir / "root").string()};
  EXPECT_TRUE(CheckDataRoots((dir / "root/mnist").string(), roots).ok());
  EXPECT_TRUE(CheckDataRoots((dir / "root/alias").string(), roots).ok());
  absl::Status s = CheckDataRoots((dir / "root/escape").string(), roots);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("resolves to"));
  EXPECT_EQ(CheckDataRoots((dir / "root/none").string(), roots).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(CheckDataRoots((dir / "secret").string(), {}).ok());
  EXPECT_TRUE(CheckDataRoots("", roots).ok());
}

TEST_F(WorkerTest, StopGivesTheLeaseBack) {
  StartServer();
  // Long enough that Stop() lands mid-training.
  const std::string id = Submit(
      R"pb(model { width: 64 }
           data { dataset: "synthetic" }
           pretrain { examples: 500 steps: 1000000 })pb",
      "");
  Worker worker(WorkerOptions(0));
  std::thread run([&] { EXPECT_TRUE(worker.Run().ok()); });
  ASSERT_TRUE(
      fixtures::WaitFor([&] { return Jobs(id)[0].state() == v1::LEASED; }));
  const auto stop_time = std::chrono::steady_clock::now();
  worker.Stop();
  run.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_time,
            std::chrono::seconds(5));
  const v1::Job job = Jobs(id)[0];
  EXPECT_EQ(job.state(), v1::QUEUED);
  EXPECT_EQ(job.attempt(), 0);  // handed back untried
}

TEST_F(WorkerTest, WaitsForTheSchedulerToComeUp) {
  // Find a free port, then leave it closed while the worker starts.
  StartServer();
  const int port = server_->port();
  server_.reset();
  Worker worker(WorkerOptions(1));
  std::thread run([&] { EXPECT_TRUE(worker.Run().ok()); });
  // The worker found nobody at the port and is backing off.
  ASSERT_TRUE(
      fixtures::WaitFor([&] { return worker.scheduler_failures() > 0; }));
  StartServer(port);
  const std::string id = Submit(kQuickBase, "");
  run.join();
  EXPECT_EQ(Jobs(id)[0].state(), v1::SUCCEEDED);
}

}  // namespace
}  // namespace forgetlab
