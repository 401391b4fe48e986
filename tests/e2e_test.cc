// End to end: forgetlab-server, forgetlab-worker and forgetlab as separate
// processes on loopback, driven the way a user drives them.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace forgetlab {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Struct;
using google::protobuf::Value;
using ::testing::HasSubstr;

// A child process with its output in a log file.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log) {
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> args;
      for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void Signal(int sig) { kill(pid_, sig); }
  // The exit code, or -1 if it did not exit in time (then it is killed).
  int Wait(std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

struct Output {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::path(testing::TempDir()) /
        ("e2e_" +
         std::string(
             ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  void StartServer(int lease_seconds = 60) {
    const std::string port_file = (dir_ / "port").string();
    server_ = std::make_unique<Process>(
        std::vector<std::string>{
            FORGETLAB_SERVER_BIN, "--listen=127.0.0.1:0",
            "--db=" + (dir_ / "forgetlab.db").string(),
            "--lease_seconds=" + std::to_string(lease_seconds),
            "--port_file=" + port_file},
        (dir_ / "server.log").string());
    for (int i = 0; i < 200 && !fs::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(fs::exists(port_file))
        << ReadFile((dir_ / "server.log").string());
    address_ = "127.0.0.1:" + std::to_string(std::stoi(ReadFile(port_file)));
  }

  std::unique_ptr<Process> StartWorker(const std::string& name) {
    return std::make_unique<Process>(
        std::vector<std::string>{FORGETLAB_WORKER_BIN,
                                 "--scheduler=" + address_, "--threads=1"},
        (dir_ / (name + ".log")).string());
  }

  // Runs the CLI with `args`, capturing stdout and stderr.
  Output Cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {FORGETLAB_CLI_BIN,
                                     "--scheduler=" + address_};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string out = (dir_ / "cli.out").string();
    const std::string err = (dir_ / "cli.err").string();
    Output result;
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
      dup2(open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
      std::vector<char*> c;
      for (const std::string& a : argv)
        c.push_back(const_cast<char*>(a.c_str()));
      c.push_back(nullptr);
      execv(c[0], c.data());
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = ReadFile(out);
    result.err = ReadFile(err);
    return result;
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  static std::string LastLine(const std::string& text) {
    std::string s = text;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
  }

  // Parses JSON text with protobuf's JSON parser; returns the value whole
  // (callers keep it in a variable while they hold references into it).
  static Value Json(const std::string& text) {
    Struct s;
    auto status = google::protobuf::util::JsonStringToMessage(
        "{\"v\": " + text + "}", &s);
    EXPECT_TRUE(status.ok()) << text;
    return s.fields().at("v");
  }

  fs::path dir_;
  std::string address_;
  std::unique_ptr<Process> server_;
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
  StartServer();
  auto worker = StartWorker("worker");
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

  Output sweeps = Cli({"sweeps"});
  EXPECT_THAT(sweeps.out, HasSubstr(id));
  EXPECT_THAT(sweeps.out, HasSubstr("8/8"));
  Output workers = Cli({"workers"});
  EXPECT_THAT(workers.out, HasSubstr("idle"));

  worker->Signal(SIGTERM);
  EXPECT_EQ(worker->Wait(std::chrono::seconds(10)), 0);
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(std::chrono::seconds(10)), 0);
}

TEST_F(EndToEndTest, KilledWorkerLosesNothingAndDoublesNothing) {
  StartServer(/*lease_seconds=*/2);
  // One job long enough to kill the worker mid-training.
  Output submit = Cli({"submit", WriteFile("long.textproto", R"pb(
                         base {
                           model { width: 64 }
                           data { dataset: "synthetic" }
                           pretrain { examples: 500 steps: 4000 batch_size: 64 }
                           finetune { steps: 100 batch_size: 16 }
                         }
                       )pb")});
  ASSERT_EQ(submit.code, 0) << submit.err;
  const std::string id = LastLine(submit.out);
  auto doomed = StartWorker("doomed");
  std::string state;
  for (int i = 0; i < 200 && state != "LEASED"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const Output jobs = Cli({"jobs", id, "--format=json"});
    const Value v = Json(jobs.out);
    state = v.list_value()
                .values(0)
                .struct_value()
                .fields()
                .at("state")
                .string_value();
  }
  ASSERT_EQ(state, "LEASED");
  doomed->Signal(SIGKILL);
  EXPECT_EQ(doomed->Wait(std::chrono::seconds(5)), 128 + SIGKILL);

  auto rescuer = StartWorker("rescuer");
  Output watch = Cli({"watch", id});
  EXPECT_EQ(watch.code, 0) << watch.out << watch.err;
  Output jobs = Cli({"jobs", id, "--format=json"});
  const Value jv = Json(jobs.out);
  const auto& job = jv.list_value().values(0).struct_value();
  EXPECT_EQ(job.fields().at("state").string_value(), "SUCCEEDED");
  EXPECT_EQ(job.fields().at("attempt").number_value(), 2);
  Output table = Cli({"table", id, "--format=json"});
  const Value tv = Json(table.out);
  const auto& cells =
      tv.struct_value().fields().at("cells").list_value().values();
  ASSERT_EQ(cells.size(), 1);
  EXPECT_EQ(cells[0].struct_value().fields().at("n").number_value(),
            1);  // one result
}

TEST_F(EndToEndTest, BadSweepFilesAreRejectedWithLocation) {
  StartServer();
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
  address_ = "127.0.0.1:1";  // nothing listens on port 1
  Output status = Cli({"status", "sw-x"});
  EXPECT_EQ(status.code, 1);
  EXPECT_THAT(status.err,
              HasSubstr("cannot reach the scheduler at 127.0.0.1:1"));
  EXPECT_EQ(std::count(status.err.begin(), status.err.end(), '\n'), 1);
}

}  // namespace
}  // namespace forgetlab
