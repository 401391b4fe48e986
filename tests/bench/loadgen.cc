// forgetlab-loadgen: scheduler throughput. N simulated workers, each a thread
// with its own channel, run lease -> heartbeat -> complete (tiny valid
// result) against a real forgetlab-server for S seconds, while a feeder keeps
// the queue full by submitting sweeps: first enough for the whole run (so
// that the measured window is the steady cycle), then more if it runs low.
// With --idle, the workers only hold LeaseJob long polls open against an
// empty queue and count errors.
//
//   forgetlab-loadgen --scheduler=127.0.0.1:50051 --workers=32 --seconds=10
//       [--format=json] [--idle | --floor] [--prefill_jobs=N]
//       [--token_file=F --ca_cert=PEM]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/net/channel.h"

ABSL_FLAG(std::string, scheduler, "127.0.0.1:50051", "scheduler host:port");
ABSL_FLAG(int, workers, 8, "simulated workers (one thread and channel each)");
ABSL_FLAG(int, seconds, 10, "how long to run");
ABSL_FLAG(std::string, format, "text", "text or json");
ABSL_FLAG(bool, floor, false,
          "instead of the scheduler's work, make three empty gRPC health "
          "checks per cycle: the transport's ceiling for a 3-call cycle at "
          "this concurrency on this machine");
ABSL_FLAG(bool, idle, false,
          "hold long polls open on an empty queue instead of cycling jobs");
ABSL_FLAG(int, prefill_jobs, -1,
          "jobs to queue before the workers start; -1: 4,000 per second of "
          "the run plus 4,000, more than one scheduler completes on a "
          "small machine, so that no submission falls in the measured "
          "window; 0: submit only as the queue runs low");
ABSL_FLAG(std::string, token_file, "",
          "admin token (workers lease, the feeder submits)");
ABSL_FLAG(std::string, ca_cert, "", "PEM CA, for a TLS scheduler");

namespace forgetlab {
namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  std::string address;
  std::string ca_cert;
  std::string token;
  std::atomic<bool> stop{false};
  // Latencies count only for calls that start in the measured window, as
  // cycles do.
  std::atomic<bool> measuring{false};
  std::atomic<bool> prefilled{false};
  // Sweeps submitted while measuring (each holds the store's writer for a
  // while: about 10 us per job).
  std::atomic<int> measured_submissions{0};
  std::atomic<int64_t> cycles{0};
  std::atomic<int64_t> errors{0};
  absl::Mutex mu;
  std::vector<double> lease_ms ABSL_GUARDED_BY(mu);
  std::string first_error ABSL_GUARDED_BY(mu);
};

void NoteError(Shared* shared, const grpc::Status& s, const char* what) {
  shared->errors.fetch_add(1);
  absl::MutexLock lock(&shared->mu);
  if (shared->first_error.empty()) {
    shared->first_error = absl::StrCat(what, ": ", s.error_message());
  }
}

std::shared_ptr<grpc::Channel> Channel(const Shared& shared) {
  ChannelOptions options{shared.address, shared.ca_cert};
  options.own_connection = true;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(options);
  if (!channel.ok()) {
    std::fprintf(stderr, "forgetlab-loadgen: %s\n",
                 std::string(channel.status().message()).c_str());
    std::exit(2);
  }
  return *channel;
}

std::unique_ptr<grpc::ClientContext> Context(const Shared& shared,
                                             int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(seconds));
  AttachToken(shared.token, ctx.get());
  return ctx;
}

// For a worker's first call: waits for its connection (32 opened at once
// can take a moment) instead of failing at once.
std::unique_ptr<grpc::ClientContext> ReadyContext(const Shared& shared,
                                                  int seconds) {
  std::unique_ptr<grpc::ClientContext> ctx = Context(shared, seconds);
  ctx->set_wait_for_ready(true);
  return ctx;
}

// A result that passes the server's checks for a k-task job.
v1::JobResult TinyResult(int tasks) {
  v1::JobResult result;
  for (int i = 0; i < tasks; ++i) {
    auto* row = result.add_accuracy_matrix();
    for (int j = 0; j < tasks; ++j) row->add_accuracy(0.5);
  }
  (*result.mutable_metrics())["forgetting"] = 0.0;
  result.set_parameter_count(1);
  result.set_device("loadgen");
  return result;
}

void WorkerLoop(Shared* shared, int index, bool idle) {
  auto stub = v1::WorkerService::NewStub(Channel(*shared));
  v1::RegisterWorkerRequest reg;
  reg.set_host(absl::StrCat("loadgen-", index));
  reg.set_device("cpu");
  reg.add_datasets("synthetic");
  v1::RegisterWorkerResponse registered;
  grpc::Status s =
      stub->RegisterWorker(ReadyContext(*shared, 10).get(), reg, &registered);
  if (!s.ok()) {
    NoteError(shared, s, "RegisterWorker");
    return;
  }
  std::vector<double> lease_ms;
  while (!shared->stop.load()) {
    v1::LeaseJobRequest request;
    request.set_worker_id(registered.worker_id());
    request.set_wait_seconds(idle ? 5 : 1);
    v1::LeaseJobResponse lease;
    const bool measured = shared->measuring.load();
    const Clock::time_point start = Clock::now();
    s = stub->LeaseJob(Context(*shared, 20).get(), request, &lease);
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!s.ok()) {
      if (!shared->stop.load()) NoteError(shared, s, "LeaseJob");
      continue;
    }
    if (!lease.has_job()) continue;  // the feeder is behind; poll again
    if (measured) lease_ms.push_back(ms);
    v1::HeartbeatRequest beat;
    beat.set_worker_id(registered.worker_id());
    beat.set_job_id(lease.job().job_id());
    beat.set_lease_token(lease.lease_token());
    beat.mutable_progress()->set_phase("train");
    v1::HeartbeatResponse beat_response;
    s = stub->Heartbeat(Context(*shared, 10).get(), beat, &beat_response);
    if (!s.ok()) {
      NoteError(shared, s, "Heartbeat");
      continue;
    }
    v1::CompleteJobRequest complete;
    complete.set_worker_id(registered.worker_id());
    complete.set_job_id(lease.job().job_id());
    complete.set_lease_token(lease.lease_token());
    *complete.mutable_result() =
        TinyResult(std::max(2, lease.job().spec().tasks_size()));
    v1::CompleteJobResponse done;
    s = stub->CompleteJob(Context(*shared, 10).get(), complete, &done);
    if (!s.ok()) {
      NoteError(shared, s, "CompleteJob");
      continue;
    }
    shared->cycles.fetch_add(1);
  }
  absl::MutexLock lock(&shared->mu);
  shared->lease_ms.insert(shared->lease_ms.end(), lease_ms.begin(),
                          lease_ms.end());
}

// Like WorkerLoop, with three health checks (no scheduler work) per cycle.
void FloorLoop(Shared* shared) {
  auto stub = grpc::health::v1::Health::NewStub(Channel(*shared));
  std::vector<double> first_ms;
  while (!shared->stop.load()) {
    for (int call = 0; call < 3; ++call) {
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
      const bool measured = shared->measuring.load();
      const Clock::time_point start = Clock::now();
      grpc::Status s =
          stub->Check(Context(*shared, 10).get(), request, &response);
      if (!s.ok()) {
        NoteError(shared, s, "Health.Check");
        break;
      }
      if (call == 0 && measured) {
        first_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start)
                .count());
      }
      if (call == 2) shared->cycles.fetch_add(1);
    }
  }
  absl::MutexLock lock(&shared->mu);
  shared->lease_ms.insert(shared->lease_ms.end(), first_ms.begin(),
                          first_ms.end());
}

// Queues `prefill` jobs, then keeps at least `low_water` queued, in
// 2,000-job sweeps. It counts instead of asking: the jobs it submitted, less
// the cycles finished and one job per worker in flight, is at most what is
// still queued. (Polling GetSweep, which counts a sweep's jobs, would add
// read load of its own.)
void FeedLoop(Shared* shared, int64_t prefill, int low_water, int workers) {
  auto stub = v1::ForgetlabService::NewStub(Channel(*shared));
  int64_t submitted = 0;
  while (!shared->stop.load()) {
    const bool filling = submitted < prefill;
    if (!filling) shared->prefilled.store(true);
    const int64_t queued = submitted - shared->cycles.load() - workers;
    if (filling || queued < low_water) {
      v1::SubmitSweepRequest request;
      v1::SweepSpec* sweep = request.mutable_sweep();
      sweep->set_name("loadgen");
      sweep->set_rerun(true);  // never served from the cache
      sweep->mutable_base()->mutable_data()->set_dataset("synthetic");
      v1::Axis* axis = sweep->add_axes();
      axis->set_path("seed");
      constexpr int kSweepJobs = 2000;
      for (int64_t i = 0; i < kSweepJobs; ++i) axis->add_values(submitted + i);
      v1::SubmitSweepResponse response;
      if (shared->measuring.load()) shared->measured_submissions.fetch_add(1);
      grpc::Status s =
          stub->SubmitSweep(Context(*shared, 30).get(), request, &response);
      if (!s.ok()) {
        NoteError(shared, s, "SubmitSweep");
        shared->prefilled.store(true);  // don't keep the workers waiting
        absl::SleepFor(absl::Milliseconds(200));
        continue;
      }
      submitted += kSweepJobs;
      continue;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  shared->prefilled.store(true);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(
      v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  return v[i];
}

int Main() {
  Shared shared;
  shared.address = absl::GetFlag(FLAGS_scheduler);
  shared.ca_cert = absl::GetFlag(FLAGS_ca_cert);
  absl::StatusOr<std::string> token =
      ResolveToken("", absl::GetFlag(FLAGS_token_file));
  if (!token.ok()) {
    std::fprintf(stderr, "forgetlab-loadgen: %s\n",
                 std::string(token.status().message()).c_str());
    return 2;
  }
  shared.token = *token;
  const int workers = absl::GetFlag(FLAGS_workers);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const bool idle = absl::GetFlag(FLAGS_idle);
  const bool floor = absl::GetFlag(FLAGS_floor);
  if (workers < 1 || seconds < 1) {
    std::fprintf(stderr,
                 "forgetlab-loadgen: --workers and --seconds must be "
                 "at least 1\n");
    return 2;
  }

  std::thread feeder;
  if (!idle && !floor) {
    int64_t prefill = absl::GetFlag(FLAGS_prefill_jobs);
    if (prefill < 0) prefill = 4000 * (int64_t{seconds} + 1);
    feeder = std::thread([&shared, prefill, workers] {
      FeedLoop(&shared, prefill, 4 * workers + 500, workers);
    });
    // Let the queue fill so that workers start busy.
    while (!shared.prefilled.load()) absl::SleepFor(absl::Milliseconds(20));
  }
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&shared, i, idle, floor] {
      if (floor) {
        FloorLoop(&shared);
      } else {
        WorkerLoop(&shared, i, idle);
      }
    });
  }
  // Measure a steady window: skip the first second of connection set-up.
  absl::SleepFor(absl::Seconds(1));
  shared.measuring.store(true);
  const int64_t cycles_before = shared.cycles.load();
  const Clock::time_point start = Clock::now();
  absl::SleepFor(absl::Seconds(seconds));
  const int64_t cycles = shared.cycles.load() - cycles_before;
  shared.measuring.store(false);
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - start).count();
  shared.stop.store(true);
  for (std::thread& t : threads) t.join();
  if (feeder.joinable()) feeder.join();

  absl::MutexLock lock(&shared.mu);
  const double rate = cycles / elapsed;
  const double p50 = Percentile(shared.lease_ms, 50);
  const double p99 = Percentile(shared.lease_ms, 99);
  const int64_t errors = shared.errors.load();
  if (absl::GetFlag(FLAGS_format) == "json") {
    std::printf(
        "{\"workers\": %d, \"cycles_per_s\": %.1f, \"lease_p50_ms\": %.3f, "
        "\"lease_p99_ms\": %.3f, \"errors\": %lld%s}\n",
        workers, rate, p50, p99, static_cast<long long>(errors),
        idle                                     ? ", \"idle\": true"
        : floor                                  ? ", \"floor\": true"
        : absl::GetFlag(FLAGS_prefill_jobs) == 0 ? ", \"prefill\": false"
                                                 : "");
  } else if (idle) {
    std::printf("%d idle long polls held for %d s: %lld errors\n", workers,
                seconds, static_cast<long long>(errors));
  } else if (floor) {
    std::printf(
        "%d workers: %.0f cycles/s of 3 empty health checks (the transport's "
        "ceiling), first-call p50 %.2f ms, p99 %.2f ms, %lld errors\n",
        workers, rate, p50, p99, static_cast<long long>(errors));
  } else {
    std::printf(
        "%d workers: %.0f cycles/s (lease, heartbeat, complete), lease p50 "
        "%.2f ms, p99 %.2f ms, %lld errors\n",
        workers, rate, p50, p99, static_cast<long long>(errors));
  }
  if (!shared.first_error.empty()) {
    std::fprintf(stderr, "first error: %s\n", shared.first_error.c_str());
  }
  if (const int n = shared.measured_submissions.load(); n > 0) {
    std::fprintf(stderr,
                 "note: the feeder submitted %d sweep(s) of 2,000 jobs while "
                 "measuring; raise --prefill_jobs to keep them out\n",
                 n);
  }
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace forgetlab

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "scheduler load generator.\n"
      "  forgetlab-loadgen --scheduler=127.0.0.1:50051 --workers=32 "
      "--seconds=10 [--format=json] [--idle | --floor]");
  absl::ParseCommandLine(argc, argv);
  return forgetlab::Main();
}
