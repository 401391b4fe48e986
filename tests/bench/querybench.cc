// forgetlab-querybench: query latency on a big database. Builds one sweep of
// --jobs jobs (model.width x pretrain.examples x seeds) with synthetic stored
// results through the real store, starts a real scheduler on loopback over
// it, and times QueryTable, paged ListJobs and submitting a 10,000-job sweep
// through gRPC.
//
//   forgetlab-querybench [--jobs=100000] [--db=FILE] [--format=json]
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "proto/net/channel.h"
#include "proto/spec/grid.h"
#include "server/convert.h"
#include "server/scheduler.h"
#include "storage/store.h"

ABSL_FLAG(int, jobs, 100000, "jobs in the stored sweep (a multiple of 100)");
ABSL_FLAG(std::string, db, "",
          "database file; reused when it already holds the sweep (default: a "
          "new file under /tmp)");
ABSL_FLAG(int, repeats, 30, "timed calls per query");
ABSL_FLAG(std::string, format, "text", "text or json");

namespace forgetlab {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// 10 widths x 10 pretraining sizes x jobs/100 seeds.
v1::SweepSpec BigSweep(int jobs, int first_seed) {
  v1::SweepSpec sweep;
  sweep.set_name("querybench");
  sweep.set_rerun(true);
  sweep.mutable_base()->mutable_data()->set_dataset("synthetic");
  v1::Axis* width = sweep.add_axes();
  width->set_path("model.width");
  for (int w : {16, 24, 32, 48, 64, 96, 128, 192, 256, 512}) {
    width->add_values(w);
  }
  v1::Axis* examples = sweep.add_axes();
  examples->set_path("pretrain.examples");
  for (int n : {0, 10, 20, 50, 100, 200, 300, 500, 700, 1000}) {
    examples->add_values(n);
  }
  for (int s = 0; s < jobs / 100; ++s) sweep.add_seeds(first_seed + s);
  return sweep;
}

// Stores the sweep and a plausible result for every job, through the same
// store calls the scheduler makes (lease, then complete).
absl::StatusOr<std::string> Populate(storage::Store* store, int jobs) {
  const v1::SweepSpec spec = BigSweep(jobs, 0);
  absl::StatusOr<std::vector<ExpandedJob>> expanded = ExpandSweep(spec, jobs);
  if (!expanded.ok()) return expanded.status();
  storage::NewSweep sweep;
  sweep.name = "querybench";
  sweep.spec = spec.SerializeAsString();
  sweep.use_cache = false;
  for (ExpandedJob& job : *expanded) {
    sweep.jobs.push_back({std::move(job.canonical), std::move(job.spec_key),
                          std::move(job.axis_values), "synthetic"});
  }
  bool existing = false;
  absl::StatusOr<std::string> id = store->CreateSweep(sweep, &existing);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> worker =
      store->RegisterWorker("querybench", "cpu", 1, {"synthetic"});
  if (!worker.ok()) return worker.status();
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> noise(-0.05, 0.05);
  for (int i = 0; i < jobs; ++i) {
    absl::StatusOr<std::optional<storage::Lease>> lease =
        store->LeaseJob(*worker, 60000);
    if (!lease.ok()) return lease.status();
    if (!lease->has_value()) return absl::InternalError("queue ran dry");
    const double a = 0.85 + noise(rng), b = 0.4 + noise(rng);
    v1::JobResult result;
    auto* r0 = result.add_accuracy_matrix();
    r0->add_accuracy(a);
    r0->add_accuracy(0.2);
    auto* r1 = result.add_accuracy_matrix();
    r1->add_accuracy(b);
    r1->add_accuracy(0.9);
    (*result.mutable_metrics())["forgetting"] = a - b;
    (*result.mutable_metrics())["acc"] = (b + 0.9) / 2;
    result.set_parameter_count(1000);
    result.set_device("cpu");
    absl::Status s;
    absl::Notification stored;
    store->CompleteJob((*lease)->job.job_id, {*worker, "", (*lease)->key},
                       ResultRecordFromProto(result), nullptr,
                       [&](absl::Status outcome) {
                         s = std::move(outcome);
                         stored.Notify();
                       });
    stored.WaitForNotification();
    if (!s.ok()) return s;
  }
  return *id;
}

int Main() {
  const int jobs = absl::GetFlag(FLAGS_jobs);
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  if (jobs < 100 || jobs % 100 != 0) {
    std::fprintf(stderr,
                 "forgetlab-querybench: --jobs must be a multiple "
                 "of 100\n");
    return 2;
  }
  std::string db = absl::GetFlag(FLAGS_db);
  const bool temporary = db.empty();
  if (temporary)
    db = absl::StrCat("/tmp/forgetlab-querybench-", getpid(), ".db");

  std::string sweep_id;
  double populate_s = 0;
  {
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open({db, nullptr});
    if (!store.ok()) {
      std::fprintf(stderr, "forgetlab-querybench: %s\n",
                   std::string(store.status().message()).c_str());
      return 1;
    }
    absl::StatusOr<std::vector<storage::SweepRow>> sweeps =
        (*store)->ListSweeps(1000);
    for (const auto& row :
         sweeps.ok() ? *sweeps : std::vector<storage::SweepRow>{}) {
      if (row.name == "querybench" && row.total == jobs)
        sweep_id = row.sweep_id;
    }
    if (sweep_id.empty()) {
      const Clock::time_point start = Clock::now();
      absl::StatusOr<std::string> id = Populate(store->get(), jobs);
      if (!id.ok()) {
        std::fprintf(stderr, "forgetlab-querybench: %s\n",
                     std::string(id.status().message()).c_str());
        return 1;
      }
      sweep_id = *id;
      populate_s = Ms(start) / 1000;
    }
  }

  SchedulerServer::Options options;
  options.listen = "127.0.0.1:0";
  options.db_path = db;
  absl::StatusOr<std::unique_ptr<SchedulerServer>> server =
      SchedulerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "forgetlab-querybench: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  auto channel = OpenChannel({absl::StrCat("127.0.0.1:", (*server)->port())});
  auto stub = v1::ForgetlabService::NewStub(*channel);

  // QueryTable: forgetting by width x pretraining size, mean with intervals.
  std::vector<double> table_ms;
  double table_cold_ms = 0;
  int cells = 0;
  for (int i = 0; i < repeats + 1; ++i) {
    grpc::ClientContext ctx;
    v1::QueryTableRequest request;
    request.add_sweep_ids(sweep_id);
    request.set_metric("forgetting");
    v1::Table table;
    const Clock::time_point start = Clock::now();
    grpc::Status s = stub->QueryTable(&ctx, request, &table);
    if (!s.ok()) {
      std::fprintf(stderr, "QueryTable: %s\n", s.error_message().c_str());
      return 1;
    }
    if (i == 0) {
      table_cold_ms = Ms(start);  // reads every sample from SQLite
    } else {
      table_ms.push_back(Ms(start));  // from the store's memory
    }
    cells = table.cells_size();
  }

  // ListJobs, 100 per page, from random places in the sweep.
  std::vector<double> page_ms;
  std::mt19937 rng(2);
  std::uniform_int_distribution<int64_t> after(0, jobs - 100);
  for (int i = 0; i < repeats * 5; ++i) {
    grpc::ClientContext ctx;
    v1::ListJobsRequest request;
    request.set_sweep_id(sweep_id);
    request.set_page_size(100);
    request.set_after_job_id(after(rng));
    v1::ListJobsResponse response;
    const Clock::time_point start = Clock::now();
    grpc::Status s = stub->ListJobs(&ctx, request, &response);
    if (!s.ok() || response.jobs_size() == 0) {
      std::fprintf(stderr, "ListJobs: %s\n", s.error_message().c_str());
      return 1;
    }
    page_ms.push_back(Ms(start));
  }

  // Submitting a 10,000-job sweep (validation, expansion, one transaction).
  std::vector<double> submit_ms;
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    v1::SubmitSweepRequest request;
    *request.mutable_sweep() = BigSweep(10000, 1000000 * (i + 1));
    request.mutable_sweep()->set_name("querybench-submit");
    v1::SubmitSweepResponse response;
    const Clock::time_point start = Clock::now();
    grpc::Status s = stub->SubmitSweep(&ctx, request, &response);
    if (!s.ok()) {
      std::fprintf(stderr, "SubmitSweep: %s\n", s.error_message().c_str());
      return 1;
    }
    submit_ms.push_back(Ms(start));
    // Leave the database as it was for the next run.
    grpc::ClientContext cancel_ctx;
    v1::CancelSweepRequest cancel;
    cancel.set_sweep_id(response.sweep_id());
    v1::CancelSweepResponse cancelled;
    stub->CancelSweep(&cancel_ctx, cancel, &cancelled);
  }
  (*server)->Shutdown();
  if (temporary) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(db + suffix);
    }
  }

  if (absl::GetFlag(FLAGS_format) == "json") {
    std::printf(
        "{\"jobs\": %d, \"query_table_p50_ms\": %.2f, "
        "\"query_table_first_ms\": %.2f, \"list_jobs_p50_ms\": %.2f, "
        "\"submit_10000_ms\": %.1f, \"table_cells\": %d, "
        "\"populate_s\": %.1f}\n",
        jobs, Median(table_ms), table_cold_ms, Median(page_ms),
        Median(submit_ms), cells, populate_s);
  } else {
    std::printf(
        "%d stored jobs%s: QueryTable p50 %.2f ms (first call %.1f ms, %d "
        "cells), ListJobs page "
        "of 100 p50 %.2f ms, SubmitSweep of 10,000 jobs %.1f ms (median of "
        "3)\n",
        jobs,
        populate_s > 0
            ? absl::StrCat(" (stored in ", static_cast<int>(populate_s), " s)")
                  .c_str()
            : "",
        Median(table_ms), table_cold_ms, cells, Median(page_ms),
        Median(submit_ms));
  }
  return 0;
}

}  // namespace
}  // namespace forgetlab

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "query latency benchmark.\n"
      "  forgetlab-querybench [--jobs=100000] [--format=json]");
  absl::ParseCommandLine(argc, argv);
  return forgetlab::Main();
}
