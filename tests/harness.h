// Test harness for the process-level tests: the real forgetlab-server,
// forgetlab-worker and forgetlab binaries as child processes on loopback.
#ifndef FORGETLAB_TESTS_HARNESS_H_
#define FORGETLAB_TESTS_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"

namespace forgetlab::e2e {

// A child process with stdout and stderr in a log file. Killed (SIGKILL) on
// destruction if still running.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void Signal(int sig);
  // The exit code (128 + signal when killed), or -1 if it did not exit in
  // time.
  int Wait(std::chrono::seconds timeout);

 private:
  pid_t pid_ = -1;
};

struct Output {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path);

// Parses JSON text (with protobuf's JSON parser); returns the value whole.
google::protobuf::Value Json(const std::string& text);

// The last non-empty line of `text`.
std::string LastLine(const std::string& text);

// A scheduler, its workers and the CLI, in one temporary folder.
class Cluster {
 public:
  // `name` names the folder (one per test).
  explicit Cluster(const std::string& name);
  ~Cluster();

  // Starts the scheduler on a free port (the first time) or on the port it
  // had before (after a restart), on the same database.
  bool StartServer(int lease_seconds = 60);
  Process* server() { return server_.get(); }
  // Forgets the server process (after killing it).
  void DropServer() { server_.reset(); }

  // Starts a worker with one slot and one thread (worker_flags may say
  // otherwise); its log is <folder>/<name>.log.
  std::unique_ptr<Process> StartWorker(const std::string& name);

  // Runs `forgetlab --scheduler=<address> args...`.
  Output Cli(const std::vector<std::string>& args);

  // Writes a file in the folder and returns its path.
  std::string WriteFile(const std::string& name, const std::string& text);

  // `forgetlab jobs SWEEP --format=json`, parsed.
  google::protobuf::Value Jobs(const std::string& sweep_id);

  const std::filesystem::path& dir() const { return dir_; }
  const std::string& address() const { return address_; }
  void set_address(const std::string& address) { address_ = address; }

  // Extra flags for every later server, worker and CLI start (TLS, tokens).
  std::vector<std::string> server_flags;
  std::vector<std::string> worker_flags;
  std::vector<std::string> cli_flags;

 private:
  std::filesystem::path dir_;
  std::string address_;
  int port_ = 0;
  std::unique_ptr<Process> server_;
};

}  // namespace forgetlab::e2e

#endif  // FORGETLAB_TESTS_HARNESS_H_
