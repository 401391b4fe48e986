// Process harness for the end-to-end and fault tests.
#include "tests/harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "google/protobuf/util/json_util.h"

namespace forgetlab::e2e {

namespace fs = std::filesystem;

namespace {

// fork + exec with stdout/stderr redirected; returns the child's pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out,
            const std::string& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
    dup2(err == out ? 1 : open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644),
         2);
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

Process::Process(const std::vector<std::string>& argv, const std::string& log)
    : pid_(Spawn(argv, log, log)) {}

Process::~Process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Process::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int Process::Wait(std::chrono::seconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0 && std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return ExitCode(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

google::protobuf::Value Json(const std::string& text) {
  google::protobuf::Struct s;
  auto status =
      google::protobuf::util::JsonStringToMessage("{\"v\": " + text + "}", &s);
  if (!status.ok() || s.fields().count("v") == 0) return {};
  return s.fields().at("v");
}

std::string LastLine(const std::string& text) {
  std::string s = text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t newline = s.rfind('\n');
  return newline == std::string::npos ? s : s.substr(newline + 1);
}

Cluster::Cluster(const std::string& name)
    : dir_(fs::path(::testing::TempDir()) / name) {
  fs::remove_all(dir_);
  fs::create_directories(dir_);
}

Cluster::~Cluster() = default;

bool Cluster::StartServer(int lease_seconds) {
  const std::string port_file = (dir_ / "port").string();
  fs::remove(port_file);
  std::vector<std::string> argv = {
      FORGETLAB_SERVER_BIN, "--listen=127.0.0.1:" + std::to_string(port_),
      "--db=" + (dir_ / "forgetlab.db").string(),
      "--lease_seconds=" + std::to_string(lease_seconds),
      "--port_file=" + port_file};
  argv.insert(argv.end(), server_flags.begin(), server_flags.end());
  server_ = std::make_unique<Process>(argv, (dir_ / "server.log").string());
  for (int i = 0; i < 300 && !fs::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!fs::exists(port_file)) return false;
  port_ = std::stoi(ReadFile(port_file));
  address_ = "127.0.0.1:" + std::to_string(port_);
  return true;
}

std::unique_ptr<Process> Cluster::StartWorker(const std::string& name) {
  std::vector<std::string> argv = {
      FORGETLAB_WORKER_BIN, "--scheduler=" + address_, "--threads=1",
      "--slots=1",
      "--artifact_cache_dir=" + (dir_ / ("cache-" + name)).string()};
  argv.insert(argv.end(), worker_flags.begin(), worker_flags.end());
  return std::make_unique<Process>(argv, (dir_ / (name + ".log")).string());
}

Output Cluster::Cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {FORGETLAB_CLI_BIN,
                                   "--scheduler=" + address_};
  argv.insert(argv.end(), cli_flags.begin(), cli_flags.end());
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out = (dir_ / "cli.out").string();
  const std::string err = (dir_ / "cli.err").string();
  int status = 0;
  waitpid(Spawn(argv, out, err), &status, 0);
  return Output{ExitCode(status), ReadFile(out), ReadFile(err)};
}

std::string Cluster::WriteFile(const std::string& name,
                               const std::string& text) {
  const std::string path = (dir_ / name).string();
  std::ofstream(path) << text;
  return path;
}

google::protobuf::Value Cluster::Jobs(const std::string& sweep_id) {
  return Json(Cli({"jobs", sweep_id, "--format=json"}).out);
}

}  // namespace forgetlab::e2e
