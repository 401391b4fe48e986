// forgetlab-worker's flags and the options they give.
#include "worker/worker_cli.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "proto/net/channel.h"
#include "worker/train/experiment.h"

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
ABSL_FLAG(std::string, slots, "auto",
          "jobs trained at once, each leased, heartbeated and reported on "
          "its own: a count, or auto (on a CPU, one job per core on one "
          "thread each, and a large job alone on every core; on a GPU, up "
          "to 16 jobs, each on its own CUDA stream: as many as raise the "
          "measured throughput and fit the device's free memory)");
ABSL_FLAG(int, threads, 0,
          "intra-op threads of each job (0: picked with --slots: the CPUs "
          "available to this process, its affinity mask and any cgroup CPU "
          "quota, divided among the slots, or per job with --slots=auto); "
          "results are bit-identical for the same spec, "
          "device and thread count, whatever runs beside them");
ABSL_FLAG(std::string, artifact_cache_dir, "",
          "where shared pretraining artifacts are kept between jobs; "
          "default $XDG_CACHE_HOME (or ~/.cache)/forgetlab/artifacts");
ABSL_FLAG(int64_t, artifact_cache_bytes, int64_t{10} << 30,
          "bytes the artifact cache may take; the least recently used go "
          "first");
ABSL_FLAG(int64_t, artifact_upload_bytes_per_second, 0,
          "cap on the upload rate of shared pretraining artifacts, bytes per "
          "second; 0: none");
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
          "plus fashion_mnist when /usr/share/datasets/fashion-mnist exists, "
          "plus text:DOMAIN for each LM text domain whose Debian package is "
          "installed: text:dictionary, text:prose, text:code, text:german)");

namespace forgetlab {

absl::StatusOr<Worker::Options> WorkerOptionsFromFlags() {
  Worker::Options options;
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
  absl::StatusOr<std::string> token =
      ResolveToken(absl::GetFlag(FLAGS_token), absl::GetFlag(FLAGS_token_file));
  if (!token.ok()) return token.status();
  options.token = *token;
  options.data_roots = absl::GetFlag(FLAGS_data_roots);
  options.device = absl::GetFlag(FLAGS_device);
  options.slots = absl::GetFlag(FLAGS_slots);
  options.threads = std::max(0, absl::GetFlag(FLAGS_threads));
  options.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  options.artifact_cache_dir = absl::GetFlag(FLAGS_artifact_cache_dir);
  options.artifact_cache_bytes = absl::GetFlag(FLAGS_artifact_cache_bytes);
  options.artifact_upload_bytes_per_second =
      absl::GetFlag(FLAGS_artifact_upload_bytes_per_second);
  options.max_jobs = absl::GetFlag(FLAGS_max_jobs);
  options.datasets = absl::GetFlag(FLAGS_datasets);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  return options;
}

}  // namespace forgetlab
