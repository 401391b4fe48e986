// The CLI's subcommands: one call (or a few) each, and their output.
#include "client/commands.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/eta.h"
#include "client/fetch.h"
#include "client/render.h"
#include "client/report.h"
#include "client/results_export.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/spec/cost.h"
#include "proto/spec/spec_io.h"

namespace forgetlab {
namespace {

bool IsTerminal(FILE* f) { return isatty(fileno(f)) != 0; }

bool IsFinished(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED ||
         state == v1::CANCELLED;
}

std::string NewRequestId() {
  std::random_device rd;
  return absl::StrCat("cli-", std::to_string(rd()), std::to_string(rd()));
}

// Prints what a sweep would run: axes, jobs, cache hits, a rough cost.
void PrintDryRun(const v1::SweepSpec& spec, const v1::SubmitSweepResponse& r) {
  std::printf(
      "sweep \"%s\": %d jobs, %d already have results (would be "
      "served from the cache)\n",
      spec.name().c_str(), r.jobs(), r.cached());
  std::map<std::string, std::set<double>> axes;
  for (const v1::Job& job : r.planned_jobs()) {
    for (const auto& [path, value] : job.axis_values())
      axes[path].insert(value);
  }
  std::printf("axes:\n");
  for (const auto& [path, values] : axes) {
    std::vector<std::string> shown;
    for (double v : values) shown.push_back(absl::StrFormat("%g", v));
    std::printf("  %-22s %s\n", path.c_str(),
                absl::StrJoin(shown, ", ").c_str());
  }
  int64_t min_params = INT64_MAX, max_params = 0;
  double flops = 0;
  for (const v1::Job& job : r.planned_jobs()) {
    const int64_t params = EstimateParameterCount(job.spec());
    min_params = std::min(min_params, params);
    max_params = std::max(max_params, params);
    // Forward plus backward: about 6 FLOPs per parameter per sample.
    flops += 6.0 * static_cast<double>(params) *
             static_cast<double>(TrainingSamples(job.spec()));
  }
  if (r.planned_jobs_size() > 0) {
    const double to_run =
        r.jobs() > 0 ? flops * (r.jobs() - r.cached()) / r.jobs() : 0;
    std::printf("parameters per job: %lld .. %lld\n",
                static_cast<long long>(min_params),
                static_cast<long long>(max_params));
    std::printf(
        "estimated training compute: %.1f GFLOP for the whole sweep, "
        "%.1f GFLOP for the jobs still to run (6 x parameters x "
        "samples); roughly %.0f s for one 2-core CPU worker at ~50 "
        "GFLOP/s\n",
        flops / 1e9, to_run / 1e9, to_run / 50e9);
  }
  std::printf("nothing was submitted (--dry-run)\n");
}

Aggregation ParseAgg(const std::string& agg) {
  return agg == "median" ? Aggregation::kMedian
         : agg == "raw"  ? Aggregation::kRaw
                         : Aggregation::kMean;
}

}  // namespace

int RunSubmit(Connection& c, const std::string& file, bool dry_run) {
  v1::SubmitSweepRequest request;
  absl::Status parsed = ParseSpecFile(file, request.mutable_sweep());
  if (!parsed.ok()) {
    std::fprintf(stderr, "forgetlab: %s\n",
                 std::string(parsed.message()).c_str());
    return 2;
  }
  // A request id makes our own retries idempotent.
  if (request.sweep().request_id().empty()) {
    request.mutable_sweep()->set_request_id(NewRequestId());
  }
  v1::SubmitSweepResponse response;
  grpc::Status s;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto ctx = c.Context(60);
    request.set_dry_run(dry_run);
    s = c.stub()->SubmitSweep(ctx.get(), request, &response);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (!s.ok()) {
    // The server names the sweep's field at fault ("sweep.base.data.path
    // ..."): the file is bad input, whether invalid or refused.
    const bool bad_file =
        s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        (s.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
         s.error_message().rfind("sweep.", 0) == 0);
    if (bad_file) {
      std::fprintf(stderr, "forgetlab: %s: %s\n", file.c_str(),
                   s.error_message().c_str());
      return 2;
    }
    return c.Fail(s);
  }
  for (const std::string& warning : response.warnings()) {
    std::fprintf(stderr, "forgetlab: warning: %s\n", warning.c_str());
  }
  if (dry_run) {
    PrintDryRun(request.sweep(), response);
    return 0;
  }
  std::printf("%s sweep %s: %d jobs (%d from the cache)%s\n",
              response.existing() ? "existing" : "submitted",
              response.sweep_id().c_str(), response.jobs(), response.cached(),
              response.pretraining() == 0
                  ? ""
                  : absl::StrCat(", ", response.pretraining(),
                                 " shared pretraining job",
                                 response.pretraining() == 1 ? "" : "s")
                        .c_str());
  std::printf("%s\n", response.sweep_id().c_str());
  return 0;
}

int RunStatus(Connection& c, const std::string& id, const std::string& format) {
  v1::SweepStatus status;
  if (int code = FetchSweep(c, id, &status); code != 0) return code;
  std::fputs(
      (format == "json" ? StatusJson(status) : StatusText(status)).c_str(),
      stdout);
  return 0;
}

int RunJobs(Connection& c, const std::string& id, const std::string& format,
            const std::string& state) {
  v1::ListJobsRequest request;
  request.set_sweep_id(id);
  if (!state.empty()) {
    v1::JobState parsed;
    std::string upper = state;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(ch));
    if (!v1::JobState_Parse(upper, &parsed) ||
        parsed == v1::JOB_STATE_UNSPECIFIED) {
      std::fprintf(stderr,
                   "forgetlab: --state=%s is not one of queued, leased, "
                   "succeeded, failed, cancelled, waiting\n",
                   state.c_str());
      return 2;
    }
    request.set_state(parsed);
  }
  std::vector<v1::Job> jobs;
  std::string waiting;
  if (int code = FetchJobs(c, request, &jobs, &waiting); code != 0) {
    return code;
  }
  std::fputs((format == "json" ? JobsJson(jobs) : JobsText(jobs)).c_str(),
             stdout);
  if (format != "json" && !waiting.empty()) {
    std::printf("waiting: %s\n", waiting.c_str());
  }
  return 0;
}

// `watch`'s exit code for a sweep that is done: 1 when an experiment failed
// or was cancelled. A shared pretraining job that failed or was cancelled
// does not count by itself: the experiments that waited on it pretrained
// themselves or got a new pretraining job, and their own states say whether
// the sweep's results are whole.
int WatchOutcome(Connection& c, const std::string& id,
                 const v1::SweepStatus& last) {
  if (last.failed() == 0 && last.cancelled() == 0) return 0;
  int failed = last.failed();
  int cancelled = last.cancelled();
  int pretraining = 0;
  if (last.pretraining() > 0) {
    for (const v1::JobState state : {v1::FAILED, v1::CANCELLED}) {
      v1::ListJobsRequest request;
      request.set_sweep_id(id);
      request.set_state(state);
      std::vector<v1::Job> jobs;
      if (FetchJobs(c, request, &jobs) != 0) return 1;
      for (const v1::Job& job : jobs) {
        if (job.kind() != "pretrain") continue;
        ++pretraining;
        --(state == v1::FAILED ? failed : cancelled);
      }
    }
  }
  if (failed == 0 && cancelled == 0) {
    std::fprintf(stderr,
                 "forgetlab: every experiment succeeded; %d shared "
                 "pretraining job(s) failed or were cancelled, and the "
                 "experiments that waited on them pretrained themselves or "
                 "waited for a new one (`forgetlab jobs %s --state=failed` "
                 "shows why)\n",
                 pretraining, id.c_str());
    return 0;
  }
  std::fprintf(stderr,
               "forgetlab: %d experiment(s) failed and %d cancelled; "
               "`forgetlab jobs %s --state=failed` shows why\n",
               failed, cancelled, id.c_str());
  return 1;
}

int RunWatch(Connection& c, const std::string& id, int reconnect_seconds) {
  const bool tty = IsTerminal(stdout);
  // Each job's estimated cost (6 x parameters x samples), so the ETA weighs
  // a large model's job more than a small one's.
  CostWeightedEta eta;
  {
    v1::ListJobsRequest request;
    request.set_sweep_id(id);
    std::vector<v1::Job> jobs;
    if (int code = FetchJobs(c, request, &jobs); code != 0) return code;
    // Shared pretraining splits a job's work: its pretraining job does the
    // pretraining, and the job loads the weights and fine-tunes.
    std::set<std::string> made;
    for (const v1::Job& job : jobs) {
      if (job.kind() == "pretrain") made.insert(job.artifact_key());
    }
    for (const v1::Job& job : jobs) {
      const v1::ExperimentSpec& spec = job.spec();
      const double all = static_cast<double>(TrainingSamples(spec));
      double pretraining = spec.pretrain().examples() > 0
                               ? static_cast<double>(spec.pretrain().steps()) *
                                     spec.pretrain().batch_size()
                               : 0;
      if (spec.model().family() == v1::ModelSpec::LM) {
        pretraining *= spec.model().context();
      }
      const double samples = job.kind() == "pretrain" ? pretraining
                             : made.count(job.artifact_key()) > 0
                                 ? all - pretraining
                                 : all;
      eta.AddJob(
          job.job_id(),
          6.0 * static_cast<double>(EstimateParameterCount(spec)) * samples,
          IsFinished(job.state()));
    }
  }
  eta.Start();
  const auto start = std::chrono::steady_clock::now();
  std::string last_line;
  int last_printed = -1;
  v1::SweepStatus last;
  std::optional<std::chrono::steady_clock::time_point> lost_since;
  auto last_waiting_check = start - std::chrono::hours(1);
  for (;;) {
    grpc::ClientContext ctx;
    c.AddToken(&ctx);
    v1::WatchSweepRequest request;
    request.set_sweep_id(id);
    auto reader = c.stub()->WatchSweep(&ctx, request);
    v1::SweepEvent event;
    while (reader->Read(&event)) {
      lost_since.reset();
      last = event.status();
      if (event.has_job()) {
        eta.SetFinished(event.job().job_id(), IsFinished(event.job().state()));
      }
      // Nothing runs although jobs are queued: ask why (at most every 10 s).
      const auto now = std::chrono::steady_clock::now();
      if (last.queued() > 0 && last.leased() == 0 &&
          now - last_waiting_check > std::chrono::seconds(10)) {
        last_waiting_check = now;
        v1::GetSweepRequest get;
        get.set_sweep_id(id);
        v1::SweepStatus fresh;
        auto get_ctx = c.Context(5);
        if (c.stub()->GetSweep(get_ctx.get(), get, &fresh).ok()) {
          last.set_waiting(fresh.waiting());
        }
      }
      const int finished = last.succeeded() + last.failed() + last.cancelled();
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const std::string line =
          ProgressLine(last, eta.Eta(elapsed), tty ? 30 : 0);
      if (tty) {
        std::printf("\r%s\033[K", line.c_str());
        std::fflush(stdout);
      } else if (finished != last_printed || line != last_line) {
        // Off a terminal (logs, CI): a line per finished job or new reason.
        if (finished != last_printed || last.state() == "DONE" ||
            !last.waiting().empty()) {
          std::printf("%s\n", line.c_str());
          std::fflush(stdout);
        }
        last_printed = finished;
      }
      last_line = line;
    }
    grpc::Status s = reader->Finish();
    if (s.ok() && last.state() == "DONE") break;
    if (s.ok() || s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      // The scheduler restarted or the stream ended early: reconnect, for
      // up to the reconnect window.
      const auto now = std::chrono::steady_clock::now();
      if (!lost_since.has_value()) lost_since = now;
      if (now - *lost_since < std::chrono::seconds(reconnect_seconds)) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      if (tty) std::printf("\n");
      std::fprintf(stderr,
                   "forgetlab: lost the scheduler at %s for %d s (%s); the "
                   "sweep goes on without us: `forgetlab watch %s` again "
                   "later\n",
                   c.address().c_str(), reconnect_seconds,
                   s.error_message().c_str(), id.c_str());
      return 3;
    }
    if (tty) std::printf("\n");
    return c.Fail(s);
  }
  if (tty) std::printf("\n");
  return WatchOutcome(c, id, last);
}

int RunTable(Connection& c, const TableQuery& q) {
  v1::Table table;
  if (int code = FetchTable(c, q, &table); code != 0) return code;
  const Aggregation agg = ParseAgg(q.agg);
  std::string out;
  if (q.format == "json") {
    out = TableJson(table, agg);
  } else if (q.format == "csv") {
    out = TableCsv(table);
  } else if (q.format == "markdown") {
    out = TableMarkdown(table, agg);
  } else {
    out = TableText(table, IsTerminal(stdout), agg);
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

int RunCancel(Connection& c, const std::string& id,
              const std::vector<int64_t>& job_ids) {
  v1::CancelSweepRequest request;
  request.set_sweep_id(id);
  for (int64_t job : job_ids) request.add_job_ids(job);
  v1::CancelSweepResponse response;
  auto ctx = c.Context();
  grpc::Status s = c.stub()->CancelSweep(ctx.get(), request, &response);
  if (!s.ok()) return c.Fail(s);
  std::printf(
      "sweep %s: %d queued job(s) cancelled, %d running job(s) told to stop\n",
      id.c_str(), response.cancelled(), response.stopping());
  return 0;
}

int RunPlot(Connection& c, const TableQuery& q, const std::string& out) {
  v1::Table table;
  if (int code = FetchTable(c, q, &table); code != 0) return code;
  if (int code = WriteOutput(out, PaperFigureSvg(table, true, ParseAgg(q.agg)));
      code != 0) {
    return code;
  }
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

int RunReport(Connection& c, const TableQuery& q, const std::string& out) {
  ReportInput input;
  input.agg = ParseAgg(q.agg);
  if (int code = FetchSweep(c, q.ids.front(), &input.sweep); code != 0) {
    return code;
  }
  if (int code = FetchTable(c, q, &input.table); code != 0) return code;
  if (int code = FetchResults(c, q.ids.front(), &input.results); code != 0) {
    return code;
  }
  // The table's filters hold for everything else the report shows.
  for (const v1::AxisFilter& f :
       ParseWhere(q.where).value_or(std::vector<v1::AxisFilter>{})) {
    input.results.erase(
        std::remove_if(input.results.begin(), input.results.end(),
                       [&f](const v1::JobResultEntry& e) {
                         auto it = e.axis_values().find(f.path());
                         return it != e.axis_values().end() &&
                                it->second != f.value();
                       }),
        input.results.end());
  }
  if (int code = WriteOutput(out, ReportHtml(input)); code != 0) return code;
  std::printf("wrote %s (%zu results)\n", out.c_str(), input.results.size());
  return 0;
}

int RunResults(Connection& c, const std::string& id, const std::string& format,
               bool curves) {
  v1::ListJobsRequest request;
  request.set_sweep_id(id);
  request.set_state(v1::SUCCEEDED);
  std::vector<v1::Job> jobs;
  if (int code = FetchJobs(c, request, &jobs); code != 0) return code;
  std::vector<v1::JobResultEntry> results;
  if (int code = FetchResults(c, id, &results); code != 0) return code;
  std::map<int64_t, v1::JobResult*> by_job;
  for (v1::JobResultEntry& entry : results) {
    by_job[entry.job_id()] = entry.mutable_result();
  }
  std::vector<JobWithResult> rows;
  for (v1::Job& job : jobs) {
    auto it = by_job.find(job.job_id());
    if (it == by_job.end()) continue;  // finished between the two calls
    rows.push_back({std::move(job), std::move(*it->second)});
  }
  std::fputs((format == "jsonl" ? ResultsJsonl(rows, curves)
                                : ResultsCsv(rows, curves))
                 .c_str(),
             stdout);
  return 0;
}

int RunRetry(Connection& c, const std::string& id) {
  v1::RetrySweepRequest request;
  request.set_sweep_id(id);
  v1::RetrySweepResponse response;
  auto ctx = c.Context();
  grpc::Status s = c.stub()->RetrySweep(ctx.get(), request, &response);
  if (!s.ok()) return c.Fail(s);
  std::printf("sweep %s: %d failed or cancelled job(s) queued again\n",
              id.c_str(), response.requeued());
  return 0;
}

int RunDelete(Connection& c, const std::string& id) {
  v1::DeleteSweepRequest request;
  request.set_sweep_id(id);
  v1::DeleteSweepResponse response;
  auto ctx = c.Context(60);
  grpc::Status s = c.stub()->DeleteSweep(ctx.get(), request, &response);
  if (!s.ok()) return c.Fail(s);
  std::printf("sweep %s deleted: %d job(s), %d result(s)\n", id.c_str(),
              response.jobs(), response.results());
  return 0;
}

int RunInvalidate(Connection& c, const std::string& worker_token_name) {
  v1::InvalidateResultsRequest request;
  request.set_worker_token_name(worker_token_name);
  v1::InvalidateResultsResponse response;
  auto ctx = c.Context(60);
  grpc::Status s = c.stub()->InvalidateResults(ctx.get(), request, &response);
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    std::fprintf(stderr, "forgetlab: %s\n", s.error_message().c_str());
    return 2;
  }
  if (!s.ok()) return c.Fail(s);
  std::printf(
      "%d result(s) of worker token '%s' dropped (cached copies and results "
      "that loaded its pretrained weights included) and their jobs queued "
      "again, in %d sweep(s)%s%s\n",
      response.invalidated(), worker_token_name.c_str(),
      response.sweep_ids_size(), response.sweep_ids().empty() ? "" : ": ",
      absl::StrJoin(response.sweep_ids(), " ").c_str());
  if (response.artifacts() > 0) {
    std::printf(
        "%d shared pretraining artifact(s) it uploaded deleted; "
        "the jobs that need them wait for their pretraining to run "
        "again\n",
        response.artifacts());
  }
  return 0;
}

int RunSweeps(Connection& c, int limit) {
  if (limit < 0) {
    std::fprintf(stderr, "forgetlab: --limit must be 0 (all) or positive\n");
    return 2;
  }
  // The server answers in pages of at most 1,000; follow them.
  std::vector<v1::SweepStatus> sweeps;
  std::string page_token;
  bool more = false;
  do {
    v1::ListSweepsRequest request;
    request.set_limit(limit == 0 ? 1000
                                 : std::min<int>(1000, limit - sweeps.size()));
    request.set_page_token(page_token);
    v1::ListSweepsResponse response;
    auto ctx = c.Context();
    grpc::Status s = c.stub()->ListSweeps(ctx.get(), request, &response);
    if (!s.ok()) return c.Fail(s);
    sweeps.insert(sweeps.end(), response.sweeps().begin(),
                  response.sweeps().end());
    page_token = response.next_page_token();
    more = !page_token.empty();
  } while (more && (limit == 0 || static_cast<int>(sweeps.size()) < limit));
  std::fputs(SweepsText(sweeps).c_str(), stdout);
  if (more) {
    std::fprintf(stderr,
                 "forgetlab: the %zu newest sweeps shown; older ones exist "
                 "(--limit=0 lists all)\n",
                 sweeps.size());
  }
  return 0;
}

int RunWorkers(Connection& c) {
  v1::ListWorkersResponse response;
  auto ctx = c.Context();
  grpc::Status s =
      c.stub()->ListWorkers(ctx.get(), v1::ListWorkersRequest(), &response);
  if (!s.ok()) return c.Fail(s);
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::fputs(
      WorkersText({response.workers().begin(), response.workers().end()}, now)
          .c_str(),
      stdout);
  return 0;
}

int RunHealth(Connection& c, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(c.channel());
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto ctx = c.Context(5);
  grpc::Status s = stub->Check(ctx.get(), request, &response);
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // The address may be a worker's --health_listen port, not a scheduler.
    std::fprintf(stderr,
                 "forgetlab: no health service answers at %s (%s); check the "
                 "address, and --ca_cert for a TLS port\n",
                 c.address().c_str(), s.error_message().c_str());
    return 1;
  }
  if (!s.ok()) return c.Fail(s);
  std::printf("%s\n", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                          response.status())
                          .c_str());
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? 0
             : 1;
}

}  // namespace forgetlab
