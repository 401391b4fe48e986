// forgetlab-server: the scheduler. Parses flags, starts, waits for SIGINT or
// SIGTERM, shuts down.
#include <glog/logging.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "server/scheduler.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve on; port 0 picks a free port. Loopback only "
          "until TLS and tokens are configured.");
ABSL_FLAG(std::string, db, "forgetlab.db", "SQLite database file");
ABSL_FLAG(int, lease_seconds, 60,
          "lease length; a worker silent this long loses its job");
ABSL_FLAG(int, max_jobs_per_sweep, 10000, "largest sweep accepted");
ABSL_FLAG(std::string, port_file, "",
          "if set, the bound port is written here once serving");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "forgetlab scheduler.\n"
      "  forgetlab-server --listen=127.0.0.1:50051 --db=forgetlab.db "
      "[--lease_seconds=60]");
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  // Block the stop signals in every thread; main collects them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  forgetlab::SchedulerServer::Options options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.lease_seconds = absl::GetFlag(FLAGS_lease_seconds);
  options.max_jobs_per_sweep = absl::GetFlag(FLAGS_max_jobs_per_sweep);
  auto server = forgetlab::SchedulerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "forgetlab-server: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  LOG(INFO) << "forgetlab-server listening on port " << (*server)->port()
            << ", database " << options.db_path;
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    // Written whole then renamed, so a reader never sees a partial number.
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  LOG(INFO) << "signal " << signal_number << ": shutting down";
  (*server)->Shutdown();
  LOG(INFO) << "stopped";
  return 0;
}
