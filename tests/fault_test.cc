// Fault tests on real processes: workers and the scheduler die with SIGKILL
// mid-sweep; nothing may be lost or done twice.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/fixtures.h"
#include "tests/harness.h"

namespace forgetlab::e2e {
namespace {

using google::protobuf::Value;

class FaultTest : public ::testing::Test {
 protected:
  FaultTest()
      : cluster_("fault_" + std::string(::testing::UnitTest::GetInstance()
                                            ->current_test_info()
                                            ->name())) {}

  std::string Submit(const std::string& file) {
    const Output out = cluster_.Cli({"submit", file});
    EXPECT_EQ(out.code, 0) << out.err;
    return LastLine(out.out);
  }

  // Job state counts from `forgetlab jobs`.
  std::map<std::string, int> States(const std::string& sweep_id) {
    std::map<std::string, int> counts;
    const Value jobs = cluster_.Jobs(sweep_id);
    for (const Value& job : jobs.list_value().values()) {
      ++counts[job.struct_value().fields().at("state").string_value()];
    }
    return counts;
  }

  // Polls until `done` holds (true) or `seconds` pass (false).
  template <typename F>
  bool WaitFor(F done, int seconds) {
    return fixtures::WaitFor(done, std::chrono::seconds(seconds));
  }

  // Workers `forgetlab workers` shows as idle.
  int IdleWorkers() {
    const std::string out = cluster_.Cli({"workers"}).out;
    int n = 0;
    for (size_t at = out.find(" idle\n"); at != std::string::npos;
         at = out.find(" idle\n", at + 1)) {
      ++n;
    }
    return n;
  }

  // Sum of n over the table's cells: the number of stored results.
  int StoredResults(const std::string& sweep_id) {
    const Value table =
        Json(cluster_.Cli({"table", sweep_id, "--format=json"}).out);
    int n = 0;
    for (const Value& cell :
         table.struct_value().fields().at("cells").list_value().values()) {
      n +=
          static_cast<int>(cell.struct_value().fields().at("n").number_value());
    }
    return n;
  }

  Cluster cluster_;
};

// Jobs long enough (a second or more each) to be killed in the middle of.
constexpr char kLongJobs[] = R"pb(
  base {
    model { width: 128 }
    data { dataset: "synthetic" }
    pretrain { examples: 500 steps: 3000 batch_size: 64 }
    finetune { steps: 100 batch_size: 16 }
  }
  seeds: [ 0, 1 ]
)pb";

TEST_F(FaultTest, KilledWorkerJobCompletesExactlyOnceElsewhere) {
  ASSERT_TRUE(cluster_.StartServer(/*lease_seconds=*/2));
  auto doomed = cluster_.StartWorker("doomed");
  auto survivor = cluster_.StartWorker("survivor");
  // Both one-slot workers wait in a lease poll before the sweep arrives, so
  // each takes one job. Submitted first, the jobs (about a second each) could
  // both go to the worker that started first, one after the other.
  ASSERT_TRUE(WaitFor([&] { return IdleWorkers() == 2; }, 20));
  const std::string id =
      Submit(cluster_.WriteFile("long.textproto", kLongJobs));
  ASSERT_TRUE(WaitFor([&] { return States(id)["LEASED"] == 2; }, 20));
  doomed->Signal(SIGKILL);
  EXPECT_EQ(doomed->Wait(std::chrono::seconds(5)), 128 + SIGKILL);

  const Output watch = cluster_.Cli({"watch", id});
  EXPECT_EQ(watch.code, 0) << watch.out << watch.err;
  const Value jobs = cluster_.Jobs(id);
  std::multiset<int> attempts;
  for (const Value& job : jobs.list_value().values()) {
    const auto& f = job.struct_value().fields();
    EXPECT_EQ(f.at("state").string_value(), "SUCCEEDED");
    attempts.insert(static_cast<int>(f.at("attempt").number_value()));
  }
  // The survivor's own job on attempt 1, the orphan on attempt 2.
  EXPECT_EQ(attempts, (std::multiset<int>{1, 2}));
  EXPECT_EQ(StoredResults(id), 2);
}

// A worker with two slots holds two leases; SIGKILL loses neither: both
// expire and another worker completes each exactly once.
TEST_F(FaultTest, KilledTwoSlotWorkerLosesNoneOfItsJobs) {
  ASSERT_TRUE(cluster_.StartServer(/*lease_seconds=*/2));
  const std::string id =
      Submit(cluster_.WriteFile("long.textproto", kLongJobs));
  cluster_.worker_flags = {"--slots=2"};
  auto doomed = cluster_.StartWorker("doomed");
  ASSERT_TRUE(WaitFor([&] { return States(id)["LEASED"] == 2; }, 20));
  doomed->Signal(SIGKILL);
  EXPECT_EQ(doomed->Wait(std::chrono::seconds(5)), 128 + SIGKILL);
  cluster_.worker_flags.clear();
  auto survivor = cluster_.StartWorker("survivor");

  const Output watch = cluster_.Cli({"watch", id});
  EXPECT_EQ(watch.code, 0) << watch.out << watch.err;
  const Value jobs = cluster_.Jobs(id);
  for (const Value& job : jobs.list_value().values()) {
    const auto& f = job.struct_value().fields();
    EXPECT_EQ(f.at("state").string_value(), "SUCCEEDED");
    EXPECT_EQ(f.at("attempt").number_value(), 2);  // the second lease each
  }
  EXPECT_EQ(StoredResults(id), 2);
}

TEST_F(FaultTest, KilledServerLosesAndDoublesNothing) {
  ASSERT_TRUE(cluster_.StartServer(/*lease_seconds=*/10));
  const std::string id = Submit(
      FORGETLAB_SOURCE_DIR "/deploy/examples/sweep_synthetic_quick.textproto");
  std::vector<std::unique_ptr<Process>> workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(cluster_.StartWorker("worker" + std::to_string(i)));
  }
  ASSERT_TRUE(WaitFor([&] { return States(id)["SUCCEEDED"] >= 8; }, 60));
  cluster_.server()->Signal(SIGKILL);
  EXPECT_EQ(cluster_.server()->Wait(std::chrono::seconds(5)), 128 + SIGKILL);
  cluster_.DropServer();
  // The workers notice the outage (a heartbeat, lease or result fails) and
  // keep going.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (size_t i = 0; i < workers.size(); ++i) {
          const std::string log = ReadFile(
              (cluster_.dir() / ("worker" + std::to_string(i) + ".log"))
                  .string());
          if (log.find(" failed: ") != std::string::npos) return true;
        }
        return false;
      },
      30));
  ASSERT_TRUE(cluster_.StartServer(/*lease_seconds=*/10));

  const Output watch = cluster_.Cli({"watch", id});
  EXPECT_EQ(watch.code, 0) << watch.out << watch.err;
  std::map<std::string, int> states = States(id);
  EXPECT_EQ(states["SUCCEEDED"], 40);
  EXPECT_EQ(states.size(), 1u);
  // 5 widths x 4 pretraining sizes, 2 seeds each: one result per job.
  const Value table = Json(cluster_.Cli({"table", id, "--format=json"}).out);
  const auto& cells =
      table.struct_value().fields().at("cells").list_value().values();
  ASSERT_EQ(cells.size(), 20);
  for (const Value& cell : cells) {
    EXPECT_EQ(cell.struct_value().fields().at("n").number_value(), 2);
  }
}

TEST_F(FaultTest, CancelStopsARunningJobWithinAHeartbeat) {
  // Lease 4 s: the worker heartbeats every second.
  ASSERT_TRUE(cluster_.StartServer(/*lease_seconds=*/4));
  const std::string id = Submit(cluster_.WriteFile("endless.textproto", R"pb(
    base {
      model { width: 64 }
      data { dataset: "synthetic" }
      pretrain { examples: 500 steps: 1000000 }
    }
  )pb"));
  auto worker = cluster_.StartWorker("worker");
  ASSERT_TRUE(WaitFor(
      [&] {
        const Value jobs = cluster_.Jobs(id);
        const auto& f = jobs.list_value().values(0).struct_value().fields();
        return f.at("state").string_value() == "LEASED" &&
               f.at("progress")
                       .struct_value()
                       .fields()
                       .at("step")
                       .number_value() > 0;
      },
      20));
  const auto cancelled_at = std::chrono::steady_clock::now();
  const Output cancel = cluster_.Cli({"cancel", id});
  ASSERT_EQ(cancel.code, 0) << cancel.err;
  EXPECT_THAT(cancel.out,
              ::testing::HasSubstr("1 running job(s) told to stop"));
  ASSERT_TRUE(WaitFor([&] { return States(id)["CANCELLED"] == 1; }, 10));
  // One heartbeat (1 s) plus the time to stop and report.
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at,
            std::chrono::seconds(4));

  // The worker is free again and `retry` brings the job back.
  const Output retry = cluster_.Cli({"retry", id});
  EXPECT_THAT(retry.out, ::testing::HasSubstr(
                             "1 failed or cancelled job(s) queued again"));
  ASSERT_TRUE(WaitFor([&] { return States(id)["LEASED"] == 1; }, 10));
  EXPECT_EQ(cluster_.Cli({"cancel", id}).code, 0);
}

// Shared pretraining: one pretraining job, whose upload a worker throttled
// to 20 kB/s keeps in flight for seconds, and two experiments waiting on it.
constexpr char kSharedJobs[] = R"pb(
  base {
    data { dataset: "synthetic" }
    pretrain { examples: 300 steps: 60 batch_size: 32 }
    finetune { steps: 40 batch_size: 16 }
    eval { eval_every: 20 }
  }
  axes {
    path: "finetune.lr"
    values: [ 0.01, 0.02 ]
  }
)pb";

class SharedPretrainingFaultTest : public FaultTest {
 protected:
  // Upload files in the server's artifact folder, and stored artifacts.
  int Uploads() {
    int n = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(
             cluster_.dir() / "forgetlab.db-artifacts", ec)) {
      n += entry.path().extension() == ".tmp";
    }
    return n;
  }
  int Artifacts() {
    const Output out = cluster_.Cli({"artifacts", "--format=json"});
    EXPECT_EQ(out.code, 0) << out.err;
    return Json(out.out)
        .struct_value()
        .fields()
        .at("artifacts")
        .list_value()
        .values_size();
  }
  // Each job's kind, state and attempt once the sweep is done.
  std::multiset<std::string> Ended(const std::string& id) {
    const Output watch = cluster_.Cli({"watch", id});
    EXPECT_EQ(watch.code, 0) << watch.out << watch.err;
    std::multiset<std::string> ended;
    const Value jobs = cluster_.Jobs(id);
    for (const Value& job : jobs.list_value().values()) {
      const auto& f = job.struct_value().fields();
      ended.insert(absl::StrCat(f.at("kind").string_value(), " ",
                                f.at("state").string_value()));
    }
    return ended;
  }
};

TEST_F(SharedPretrainingFaultTest, KilledUploaderLeavesNoPartialArtifact) {
  ASSERT_TRUE(cluster_.StartServer(/*lease_seconds=*/2));
  const std::string id =
      Submit(cluster_.WriteFile("shared.textproto", kSharedJobs));
  cluster_.worker_flags = {"--artifact_upload_bytes_per_second=20000"};
  auto doomed = cluster_.StartWorker("doomed");
  ASSERT_TRUE(WaitFor([&] { return Uploads() == 1; }, 30));
  doomed->Signal(SIGKILL);
  EXPECT_EQ(doomed->Wait(std::chrono::seconds(5)), 128 + SIGKILL);
  // The server drops the half-sent file; nothing was stored.
  ASSERT_TRUE(WaitFor([&] { return Uploads() == 0; }, 10));
  EXPECT_EQ(Artifacts(), 0);
  // The pretraining runs again elsewhere and the experiments load it.
  cluster_.worker_flags.clear();
  auto survivor = cluster_.StartWorker("survivor");
  EXPECT_EQ(Ended(id), (std::multiset<std::string>{"pretrain SUCCEEDED",
                                                   "experiment SUCCEEDED",
                                                   "experiment SUCCEEDED"}));
  EXPECT_EQ(Artifacts(), 1);
  EXPECT_EQ(StoredResults(id), 2);
  const std::string log = ReadFile((cluster_.dir() / "survivor.log").string());
  EXPECT_THAT(log, ::testing::HasSubstr("uploaded"));
}

TEST_F(SharedPretrainingFaultTest, KilledServerMidUploadRestartsClean) {
  ASSERT_TRUE(cluster_.StartServer(/*lease_seconds=*/10));
  const std::string id =
      Submit(cluster_.WriteFile("shared.textproto", kSharedJobs));
  cluster_.worker_flags = {"--artifact_upload_bytes_per_second=20000"};
  auto worker = cluster_.StartWorker("worker");
  ASSERT_TRUE(WaitFor([&] { return Uploads() == 1; }, 30));
  cluster_.server()->Signal(SIGKILL);
  EXPECT_EQ(cluster_.server()->Wait(std::chrono::seconds(5)), 128 + SIGKILL);
  cluster_.DropServer();
  // The restarted server removes the dead upload before it serves; the
  // worker uploads again and the sweep finishes.
  ASSERT_TRUE(cluster_.StartServer(/*lease_seconds=*/10));
  EXPECT_THAT(ReadFile((cluster_.dir() / "server.log").string()),
              ::testing::HasSubstr("removing an unfinished upload"));
  EXPECT_EQ(Ended(id), (std::multiset<std::string>{"pretrain SUCCEEDED",
                                                   "experiment SUCCEEDED",
                                                   "experiment SUCCEEDED"}));
  EXPECT_EQ(Uploads(), 0);
  EXPECT_EQ(Artifacts(), 1);
  EXPECT_EQ(StoredResults(id), 2);
}

// A shared pretraining job that ends without its artifact (cancelled here,
// or failed) leaves its experiments to pretrain themselves. The sweep's
// results are whole, so `watch` exits 0 and says what happened; a cancelled
// experiment still makes it exit 1.
TEST_F(SharedPretrainingFaultTest, APretrainingJobThatEndsEarlyFailsNoWatch) {
  ASSERT_TRUE(cluster_.StartServer());
  // The job ids of a sweep's pretraining job and of one of its experiments.
  auto ids = [&](const std::string& sweep_id) {
    std::pair<std::string, std::string> out;
    const Value jobs = cluster_.Jobs(sweep_id);
    for (const Value& job : jobs.list_value().values()) {
      const auto& f = job.struct_value().fields();
      const std::string id = absl::StrCat(f.at("job_id").number_value());
      (f.at("kind").string_value() == "pretrain" ? out.first : out.second) = id;
    }
    return out;
  };
  const std::string id =
      Submit(cluster_.WriteFile("shared.textproto", kSharedJobs));
  ASSERT_EQ(cluster_.Cli({"cancel", id, "--job", ids(id).first}).code, 0);
  auto worker = cluster_.StartWorker("worker");
  const Output watch = cluster_.Cli({"watch", id});
  EXPECT_EQ(watch.code, 0) << watch.out << watch.err;
  EXPECT_THAT(watch.err,
              ::testing::HasSubstr("every experiment succeeded; 1 shared "
                                   "pretraining job(s) failed or were "
                                   "cancelled"));
  EXPECT_EQ(Ended(id), (std::multiset<std::string>{"pretrain CANCELLED",
                                                   "experiment SUCCEEDED",
                                                   "experiment SUCCEEDED"}));
  EXPECT_EQ(StoredResults(id), 2);

  worker->Signal(SIGTERM);
  ASSERT_EQ(worker->Wait(std::chrono::seconds(10)), 0);
  std::string other = kSharedJobs;
  other.replace(other.find("0.01, 0.02"), 10, "0.03, 0.04");
  const std::string second =
      Submit(cluster_.WriteFile("other.textproto", other));
  const auto [pretrain, experiment] = ids(second);
  ASSERT_FALSE(pretrain.empty());
  ASSERT_EQ(
      cluster_.Cli({"cancel", second, "--job", pretrain, "--job", experiment})
          .code,
      0);
  worker = cluster_.StartWorker("worker2");
  const Output partial = cluster_.Cli({"watch", second});
  EXPECT_EQ(partial.code, 1) << partial.out << partial.err;
  EXPECT_THAT(partial.err,
              ::testing::HasSubstr("0 experiment(s) failed and 1 cancelled"));
}

}  // namespace
}  // namespace forgetlab::e2e
