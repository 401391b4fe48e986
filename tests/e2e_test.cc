// End to end: forgetlab-server, forgetlab-worker and forgetlab as separate
// processes on loopback, driven the way a user drives them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/str_split.h"
#include "tests/harness.h"

namespace forgetlab::e2e {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using ::testing::HasSubstr;
using ::testing::Not;

class EndToEndTest : public ::testing::Test {
 protected:
  EndToEndTest()
      : cluster_("e2e_" + std::string(::testing::UnitTest::GetInstance()
                                          ->current_test_info()
                                          ->name())) {}
  Output Cli(const std::vector<std::string>& args) {
    return cluster_.Cli(args);
  }
  std::string WriteFile(const std::string& name, const std::string& text) {
    return cluster_.WriteFile(name, text);
  }

  Cluster cluster_;
};

// 2 widths x 2 pretraining sizes x 2 seeds = 8 quick synthetic jobs.
constexpr char kSweep[] = R"pb(
  name: "e2e"
  base {
    data { dataset: "synthetic" }
    pretrain { steps: 60 batch_size: 32 }
    finetune { steps: 60 batch_size: 16 }
    eval { eval_every: 30 }
  }
  axes {
    path: "model.width"
    values: [ 16, 32 ]
  }
  axes {
    path: "pretrain.examples"
    values: [ 0, 500 ]
  }
  seeds: [ 0, 1 ]
)pb";

TEST_F(EndToEndTest, SubmitWatchTableAndCleanStop) {
  ASSERT_TRUE(cluster_.StartServer());
  auto worker = cluster_.StartWorker("worker");
  Output submit = Cli({"submit", WriteFile("sweep.textproto", kSweep)});
  ASSERT_EQ(submit.code, 0) << submit.err;
  const std::string id = LastLine(submit.out);
  ASSERT_EQ(id.rfind("sw-", 0), 0u) << submit.out;

  Output watch = Cli({"watch", id});
  ASSERT_EQ(watch.code, 0) << watch.out << watch.err;
  EXPECT_THAT(watch.out, HasSubstr("8/8 done"));

  Output status = Cli({"status", id, "--format=json"});
  ASSERT_EQ(status.code, 0);
  const Value sv = Json(status.out);
  const Struct& s = sv.struct_value();
  EXPECT_EQ(s.fields().at("state").string_value(), "DONE");
  EXPECT_EQ(s.fields()
                .at("counts")
                .struct_value()
                .fields()
                .at("succeeded")
                .number_value(),
            8);

  Output table = Cli({"table", id, "--format=json"});
  ASSERT_EQ(table.code, 0) << table.err;
  const Value tv = Json(table.out);
  const Struct& t = tv.struct_value();
  EXPECT_EQ(t.fields().at("metric").string_value(), "forgetting");
  const auto& cells = t.fields().at("cells").list_value().values();
  ASSERT_EQ(cells.size(), 4);
  for (const auto& cell : cells) {
    const auto& f = cell.struct_value().fields();
    EXPECT_EQ(f.at("n").number_value(), 2);
    EXPECT_LE(f.at("ci95_low").number_value(), f.at("mean").number_value());
    EXPECT_GE(f.at("mean").number_value(), -1);
    EXPECT_LE(f.at("mean").number_value(), 1);
  }
  EXPECT_EQ(cells[0].struct_value().fields().at("row").number_value(), 16);
  EXPECT_EQ(cells[1].struct_value().fields().at("col").number_value(), 500);

  Output text = Cli({"table", id});
  EXPECT_THAT(text.out, HasSubstr("16 ("));
  EXPECT_THAT(text.out, HasSubstr(" params)"));

  Output jobs = Cli({"jobs", id, "--format=json"});
  const Value jv = Json(jobs.out);
  const auto& list = jv.list_value().values();
  ASSERT_EQ(list.size(), 8);
  for (const auto& job : list) {
    EXPECT_EQ(job.struct_value().fields().at("state").string_value(),
              "SUCCEEDED");
    EXPECT_EQ(job.struct_value().fields().at("attempt").number_value(), 1);
  }

  // Every result says what produced it.
  Output results = Cli({"results", id, "--format=jsonl"});
  ASSERT_EQ(results.code, 0) << results.err;
  std::vector<std::string> lines =
      absl::StrSplit(results.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 8u);
  for (const std::string& line : lines) {
    const Value rv = Json(line);
    const auto& f = rv.struct_value().fields();
    const auto& p = f.at("provenance").struct_value().fields();
    EXPECT_EQ(p.at("forgetlab_version").string_value(), "0.5.0");
    EXPECT_THAT(p.at("torch_version").string_value(), HasSubstr("1.13"));
    EXPECT_FALSE(p.at("blas").string_value().empty());
    EXPECT_EQ(p.at("device").string_value(), "cpu");
    EXPECT_GE(p.at("threads").number_value(), 1);
    EXPECT_EQ(f.at("spec")
                  .struct_value()
                  .fields()
                  .at("pretrain.steps")
                  .number_value(),
              60);
  }
  Output csv = Cli({"results", id, "--format=csv", "--curves"});
  ASSERT_EQ(csv.code, 0) << csv.err;
  EXPECT_THAT(csv.out, HasSubstr("provenance.threads"));
  EXPECT_THAT(csv.out, HasSubstr("curve_accuracy"));

  // Usage errors exit 2; a filter that matches nothing exits 1.
  EXPECT_EQ(Cli({"table", id, "--rows=seed", "--cols=seed"}).code, 2);
  EXPECT_EQ(Cli({"table", id, "--metric=forgeting"}).code, 2);
  EXPECT_EQ(Cli({"table", id, "--no-such-flag"}).code, 2);
  Output none = Cli({"table", id, "--where", "finetune.lr=0.5"});
  EXPECT_EQ(none.code, 1);
  EXPECT_THAT(none.err, HasSubstr("no result matches finetune.lr=0.5"));
  // Rows by width pool over nothing here; by seed they pool over width.
  EXPECT_EQ(Cli({"table", id, "--strict"}).code, 0);
  Output pooled = Cli({"table", id, "--rows=seed", "--strict"});
  EXPECT_EQ(pooled.code, 2);
  EXPECT_THAT(pooled.err, HasSubstr("model.width (16, 32)"));

  Output sweeps = Cli({"sweeps"});
  EXPECT_THAT(sweeps.out, HasSubstr(id));
  EXPECT_THAT(sweeps.out, HasSubstr("8/8"));
  Output workers = Cli({"workers"});
  EXPECT_THAT(workers.out, HasSubstr("idle"));

  worker->Signal(SIGTERM);
  EXPECT_EQ(worker->Wait(std::chrono::seconds(10)), 0);
  cluster_.server()->Signal(SIGTERM);
  EXPECT_EQ(cluster_.server()->Wait(std::chrono::seconds(10)), 0);
}

// A second server on a port or a database that is taken exits 1 and names
// what it collided with; so does a port out of range.
TEST_F(EndToEndTest, OneServerPerPortAndPerDatabase) {
  ASSERT_TRUE(cluster_.StartServer());
  const std::string port =
      cluster_.address().substr(cluster_.address().rfind(':') + 1);
  auto second = [&](const std::string& listen, const std::string& db) {
    const std::string log = (cluster_.dir() / "second.log").string();
    Process p({FORGETLAB_SERVER_BIN, "--listen=" + listen, "--db=" + db}, log);
    const int code = p.Wait(std::chrono::seconds(20));
    return Output{code, "", ReadFile(log)};
  };
  const std::string other_db = (cluster_.dir() / "other.db").string();
  Output same_port = second("127.0.0.1:" + port, other_db);
  EXPECT_EQ(same_port.code, 1) << same_port.err;
  EXPECT_THAT(same_port.err, HasSubstr("cannot listen on 127.0.0.1:" + port));

  Output same_db =
      second("127.0.0.1:0", (cluster_.dir() / "forgetlab.db").string());
  EXPECT_EQ(same_db.code, 1) << same_db.err;
  EXPECT_THAT(same_db.err, HasSubstr("forgetlab.db is in use by another "
                                     "forgetlab-server (pid "));
  EXPECT_THAT(same_db.err, HasSubstr("listening on port " + port));

  Output bad_port = second("127.0.0.1:99999", other_db);
  EXPECT_EQ(bad_port.code, 1) << bad_port.err;
  EXPECT_THAT(bad_port.err, HasSubstr("--listen=127.0.0.1:99999"));

  // The first server still answers every call from its own database.
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Cli({"sweeps"}).code, 0);
}

// `sweeps` lists the newest first, `--limit` of them (0: all), and says on
// stderr when older ones exist.
TEST_F(EndToEndTest, SweepsListsTheNewestUpToLimit) {
  ASSERT_TRUE(cluster_.StartServer());
  const std::string file = WriteFile("sweep.textproto", kSweep);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    Output submit = Cli({"submit", file});
    ASSERT_EQ(submit.code, 0) << submit.err;
    ids.push_back(LastLine(submit.out));
  }
  Output two = Cli({"sweeps", "--limit=2"});
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_THAT(two.out, HasSubstr(ids[2]));
  EXPECT_THAT(two.out, HasSubstr(ids[1]));
  EXPECT_THAT(two.out, Not(HasSubstr(ids[0])));
  EXPECT_THAT(two.err, HasSubstr("older ones exist (--limit=0 lists all)"));
  Output all = Cli({"sweeps", "--limit=0"});
  ASSERT_EQ(all.code, 0) << all.err;
  for (const std::string& id : ids) EXPECT_THAT(all.out, HasSubstr(id));
  EXPECT_LT(all.out.find(ids[2]), all.out.find(ids[0]));
  EXPECT_EQ(all.err, "");
  EXPECT_EQ(Cli({"sweeps", "--limit=-1"}).code, 2);
}

// A sweep no worker can take says why it waits; watch exits 3 when the
// scheduler stays away for its reconnect window.
TEST_F(EndToEndTest, WatchSaysWhyJobsWaitAndExitsThreeWithoutAScheduler) {
  ASSERT_TRUE(cluster_.StartServer());
  Output submit = Cli({"submit", WriteFile("sweep.textproto", kSweep)});
  ASSERT_EQ(submit.code, 0) << submit.err;
  EXPECT_THAT(submit.err, HasSubstr("warning: 8 job(s) will wait: no live "
                                    "worker is connected"));
  const std::string id = LastLine(submit.out);
  EXPECT_THAT(Cli({"status", id}).out,
              HasSubstr("waiting: no live worker is connected"));
  EXPECT_THAT(Cli({"jobs", id}).out,
              HasSubstr("waiting: no live worker is connected"));

  const std::string log = (cluster_.dir() / "watch.log").string();
  Process watch({FORGETLAB_CLI_BIN, "--scheduler=" + cluster_.address(),
                 "watch", id, "--reconnect_seconds=2"},
                log);
  for (int i = 0;
       i < 100 && ReadFile(log).find("waiting:") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(ReadFile(log), HasSubstr("waiting: no live worker is connected"));
  cluster_.server()->Signal(SIGKILL);
  cluster_.server()->Wait(std::chrono::seconds(10));
  EXPECT_EQ(watch.Wait(std::chrono::seconds(30)), 3) << ReadFile(log);
  EXPECT_THAT(ReadFile(log), HasSubstr("lost the scheduler"));
}

// Exit codes as README.md documents them: 0 ok (--help included), 1 a
// failed call, 2 bad usage or bad input.
TEST_F(EndToEndTest, HelpAndUsageErrorsExitAsDocumented) {
  auto run = [&](const std::vector<std::string>& argv) {
    const std::string log = (cluster_.dir() / "run.log").string();
    Process p(argv, log);
    const int code = p.Wait(std::chrono::seconds(60));
    return Output{code, ReadFile(log), ""};
  };
  for (const auto& [binary, flag] :
       std::vector<std::pair<std::string, std::string>>{
           {FORGETLAB_SERVER_BIN, "--listen"},
           {FORGETLAB_WORKER_BIN, "--scheduler"},
           {FORGETLAB_TRAIN_BIN, "--spec"},
           {FORGETLAB_CLI_BIN, "submit"}}) {
    Output help = run({binary, "--help"});
    EXPECT_EQ(help.code, 0) << binary << "\n" << help.out;
    EXPECT_THAT(help.out, HasSubstr(flag)) << binary;
    EXPECT_EQ(run({binary, "--no_such_flag=1"}).code, 2) << binary;
  }
  const std::string bad = WriteFile("bad.textproto", "model { width: 0 }\n");
  Output refused = run({FORGETLAB_TRAIN_BIN, "--spec=" + bad});
  EXPECT_EQ(refused.code, 2) << refused.out;
  EXPECT_THAT(refused.out, HasSubstr("model.width"));
}

// The binaries as a lab would run them: TLS with client certificates, and a
// worker token and a client token made by `forgetlab-server tokens add`.
TEST_F(EndToEndTest, SecureClusterWithTlsAndTokens) {
  const std::filesystem::path certs = cluster_.dir() / "certs";
  ASSERT_EQ(
      std::system((std::string(FORGETLAB_SOURCE_DIR) +
                   "/deploy/make-certs.sh " + certs.string() + " >/dev/null")
                      .c_str()),
      0);
  const std::string tokens = (cluster_.dir() / "tokens").string();
  auto add_token = [&](const std::string& role, const std::string& name) {
    const std::string file = (cluster_.dir() / (name + ".token")).string();
    const std::string command = std::string(FORGETLAB_SERVER_BIN) +
                                " tokens add --role=" + role +
                                " --name=" + name + " --tokens_file=" + tokens +
                                " 2>/dev/null | tail -n1 > " + file;
    EXPECT_EQ(std::system(command.c_str()), 0);
    return file;
  };
  const std::string worker_token = add_token("worker", "pool");
  const std::string client_token = add_token("client", "alice");
  const std::string ca = (certs / "ca.pem").string();
  cluster_.server_flags = {"--tls_cert=" + (certs / "server.pem").string(),
                           "--tls_key=" + (certs / "server.key").string(),
                           "--client_ca=" + ca, "--tokens_file=" + tokens};
  const std::vector<std::string> mtls = {
      "--ca_cert=" + ca, "--client_cert=" + (certs / "client.pem").string(),
      "--client_key=" + (certs / "client.key").string()};
  cluster_.worker_flags = mtls;
  cluster_.worker_flags.push_back("--token_file=" + worker_token);
  ASSERT_TRUE(cluster_.StartServer());
  cluster_.set_address("localhost" +
                       cluster_.address().substr(cluster_.address().find(':')));
  auto worker = cluster_.StartWorker("worker");

  // Without a token, and without TLS, the CLI is turned away.
  cluster_.cli_flags = mtls;
  Output refused = Cli({"sweeps"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.err, HasSubstr("missing or unknown token"));
  cluster_.cli_flags = {"--token_file=" + client_token};
  EXPECT_EQ(Cli({"sweeps"}).code, 1);

  cluster_.cli_flags = mtls;
  cluster_.cli_flags.push_back("--token_file=" + client_token);
  Output submit = Cli({"submit", WriteFile("sweep.textproto", kSweep)});
  ASSERT_EQ(submit.code, 0) << submit.err;
  const std::string id = LastLine(submit.out);
  Output watch = Cli({"watch", id});
  ASSERT_EQ(watch.code, 0) << watch.out << watch.err;
  EXPECT_THAT(watch.out, HasSubstr("8/8 done"));
  Output status = Cli({"status", id, "--format=json"});
  EXPECT_EQ(Json(status.out).struct_value().fields().at("owner").string_value(),
            "alice");

  // The worker's token cannot submit.
  cluster_.cli_flags = mtls;
  cluster_.cli_flags.push_back("--token_file=" + worker_token);
  Output denied = Cli({"sweeps"});
  EXPECT_EQ(denied.code, 1);
  EXPECT_THAT(denied.err, HasSubstr("role worker"));

  worker->Signal(SIGTERM);
  EXPECT_EQ(worker->Wait(std::chrono::seconds(10)), 0);
  cluster_.server()->Signal(SIGTERM);
  EXPECT_EQ(cluster_.server()->Wait(std::chrono::seconds(10)), 0);
}

TEST_F(EndToEndTest, BadSweepFilesAreRejectedWithLocation) {
  ASSERT_TRUE(cluster_.StartServer());
  Output typo = Cli(
      {"submit", WriteFile("typo.textproto",
                           "name: \"x\"\nbase {\n  model { widht: 3 }\n}\n")});
  EXPECT_EQ(typo.code, 2);
  EXPECT_THAT(typo.err, HasSubstr("typo.textproto:3:"));
  EXPECT_THAT(typo.err, HasSubstr("widht"));

  Output zero = Cli(
      {"submit", WriteFile("zero.textproto",
                           "axes { path: \"model.width\" values: [0] }\n")});
  EXPECT_EQ(zero.code, 2);
  EXPECT_THAT(zero.err, HasSubstr("model.width must be between 1 and 8192"));

  Output overlap =
      Cli({"submit", WriteFile("overlap.json",
                               R"({"base": {"tasks": [{"classes": [0, 1]},
                                                {"classes": [1, 2]}]}})")});
  EXPECT_EQ(overlap.code, 2);
  EXPECT_THAT(overlap.err, HasSubstr("tasks[1].classes repeats class 1"));

  Output sweeps = Cli({"sweeps"});
  EXPECT_THAT(sweeps.out, HasSubstr("no sweeps yet"));  // nothing stored
}

TEST_F(EndToEndTest, UnreachableServerIsOneClearLine) {
  cluster_.set_address("127.0.0.1:1");  // nothing listens on port 1
  Output status = Cli({"status", "sw-x"});
  EXPECT_EQ(status.code, 1);
  EXPECT_THAT(status.err,
              HasSubstr("cannot reach the scheduler at 127.0.0.1:1"));
  EXPECT_EQ(std::count(status.err.begin(), status.err.end(), '\n'), 1);
}

}  // namespace
}  // namespace forgetlab::e2e
