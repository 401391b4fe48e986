// forgetlab-worker: pulls jobs from the scheduler and trains them. Parses
// flags, runs the loop, stops cleanly on SIGINT or SIGTERM.
#include <glog/logging.h>
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

#include "proto/net/usage.h"
#include "worker/train/experiment.h"
#include "worker/worker.h"
#include "worker/worker_cli.h"

int main(int argc, char** argv) {
  forgetlab::train::UseFastBlasKernels(argv);
  forgetlab::ParseFlagsOrExit(argc, argv, forgetlab::kWorkerUsage);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<forgetlab::Worker::Options> options =
      forgetlab::WorkerOptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "forgetlab-worker: %s\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  forgetlab::Worker worker(*std::move(options));
  std::thread signals([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    LOG(INFO) << "signal " << signal_number
              << ": stopping, giving back any lease";
    worker.Stop();
  });
  const absl::Status status = worker.Run();
  // Wake the signal thread if Run ended on its own (max_jobs).
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  if (!status.ok()) {
    std::fprintf(stderr, "forgetlab-worker: %s\n",
                 std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
