// forgetlab-server: parses flags, starts, waits for SIGINT or SIGTERM, stops.
#include <glog/logging.h>
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "proto/net/usage.h"
#include "server/listener_watch.h"
#include "server/request_limits.h"
#include "server/scheduler.h"
#include "server/server_cli.h"

int main(int argc, char** argv) {
  std::vector<char*> args =
      forgetlab::ParseFlagsOrExit(argc, argv, forgetlab::kServerUsage);
  if (args.size() == 3 && std::string(args[1]) == "tokens" &&
      std::string(args[2]) == "add") {
    return forgetlab::RunTokensAdd();
  }
  if (args.size() > 1) {
    std::fprintf(stderr, "forgetlab-server: unknown command '%s'\n%s", args[1],
                 forgetlab::kServerUsage);
    return 2;
  }
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  forgetlab::RouteProtobufLogs();
  LOG(INFO) << "open-file limit " << forgetlab::RaiseOpenFileLimit();
#ifdef NDEBUG
  // Debian's Abseil checks every lock order at run time, at a cost on every
  // RPC. Release builds skip it; debug builds and the tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  // Block the stop signals in every thread; main collects them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const forgetlab::SchedulerServer::Options options =
      forgetlab::ServerOptionsFromFlags();
  auto server = forgetlab::SchedulerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "forgetlab-server: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  LOG(INFO) << "forgetlab-server listening on port " << (*server)->port()
            << (options.tls_cert_file.empty() ? " (plaintext)" : " (TLS)")
            << (options.tokens_file.empty() ? ", no tokens" : ", tokens from ")
            << options.tokens_file << ", database " << options.db_path;
  forgetlab::WritePortFile((*server)->port());
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  LOG(INFO) << "signal " << signal_number << ": shutting down";
  (*server)->Shutdown();
  LOG(INFO) << "stopped";
  return 0;
}
