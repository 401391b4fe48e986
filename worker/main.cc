// forgetlab-worker: pulls jobs from the scheduler and trains them. Parses
// flags, runs the loop, stops cleanly on SIGINT or SIGTERM.
#include <glog/logging.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "proto/channel.h"
#include "worker/worker.h"

ABSL_FLAG(std::string, scheduler, "",
          "scheduler address host:port (default: $FORGETLAB_SCHEDULER or "
          "127.0.0.1:50051)");
ABSL_FLAG(std::string, ca_cert, "",
          "PEM CA that signed the scheduler's certificate; set it to use TLS");
ABSL_FLAG(std::string, client_cert, "",
          "PEM client certificate, for schedulers started with --client_ca");
ABSL_FLAG(std::string, client_key, "", "PEM private key of --client_cert");
ABSL_FLAG(std::string, tls_server_name, "",
          "name in the scheduler's certificate, when it differs from the host "
          "in --scheduler");
ABSL_FLAG(std::string, token, "",
          "worker token (visible in ps; prefer --token_file or "
          "$FORGETLAB_TOKEN)");
ABSL_FLAG(std::string, token_file, "", "file whose first line is the token");
ABSL_FLAG(std::vector<std::string>, data_roots, {"/usr/share/datasets"},
          "folders a job's data path must resolve into, comma-separated; "
          "empty accepts any path");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda or cuda:N");
ABSL_FLAG(int, threads, 0, "intra-op threads (0: LibTorch's default)");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "keep pretrained bodies in this folder and reuse them (keyed by "
          "model, data, pretraining spec and seed)");
ABSL_FLAG(int, max_jobs, 0, "exit after this many jobs (0: never)");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus metrics on, over plain HTTP at "
          "/metrics; empty: no metrics");
ABSL_FLAG(std::string, health_listen, "",
          "host:port for the gRPC health service (plaintext, for Kubernetes "
          "probes): \"\" is SERVING while the loop makes progress, "
          "\"forgetlab.worker\" while the scheduler answers; empty: none");
ABSL_FLAG(std::vector<std::string>, datasets, {},
          "datasets this worker offers, comma-separated (default: synthetic, "
          "plus fashion_mnist when /usr/share/datasets/fashion-mnist exists)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "forgetlab worker.\n"
      "  forgetlab-worker --scheduler=127.0.0.1:50051 [--device=cpu] "
      "[--threads=N]\n"
      "      [--ca_cert=PEM [--client_cert=PEM --client_key=PEM]] "
      "[--token_file=FILE]");
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  forgetlab::Worker::Options options;
  options.scheduler = absl::GetFlag(FLAGS_scheduler);
  if (options.scheduler.empty()) {
    const char* env = std::getenv("FORGETLAB_SCHEDULER");
    options.scheduler =
        env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  }
  options.ca_cert_file = absl::GetFlag(FLAGS_ca_cert);
  options.client_cert_file = absl::GetFlag(FLAGS_client_cert);
  options.client_key_file = absl::GetFlag(FLAGS_client_key);
  options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  absl::StatusOr<std::string> token = forgetlab::ResolveToken(
      absl::GetFlag(FLAGS_token), absl::GetFlag(FLAGS_token_file));
  if (!token.ok()) {
    std::fprintf(stderr, "forgetlab-worker: %s\n",
                 std::string(token.status().message()).c_str());
    return 2;
  }
  options.token = *token;
  options.data_roots = absl::GetFlag(FLAGS_data_roots);
  options.device = absl::GetFlag(FLAGS_device);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  options.max_jobs = absl::GetFlag(FLAGS_max_jobs);
  options.datasets = absl::GetFlag(FLAGS_datasets);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  forgetlab::Worker worker(options);

  std::thread signals([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    if (signal_number != 0) {
      LOG(INFO) << "signal " << signal_number
                << ": stopping, giving back any lease";
    }
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
