// The forgetlab command line: subcommands over the client API.
#include "client/cli.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/render.h"
#include "client/report.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/channel.h"
#include "proto/spec.h"
#include "proto/spec_io.h"

namespace forgetlab {
namespace {

constexpr char kDefaultScheduler[] = "127.0.0.1:50051";

struct Globals {
  std::string scheduler = kDefaultScheduler;
  std::string token;
  std::string token_file;
  std::string ca_cert;
  std::string client_cert;
  std::string client_key;
  std::string tls_server_name;
};

// Exits with a one-line message: the CLI cannot do anything without a
// channel and a token it can read.
[[noreturn]] void ExitWith(const absl::Status& status) {
  std::fprintf(stderr, "forgetlab: %s\n",
               std::string(status.message()).c_str());
  std::exit(2);
}

class Connection {
 public:
  explicit Connection(const Globals& g) : address_(g.scheduler) {
    absl::StatusOr<std::string> token = ResolveToken(g.token, g.token_file);
    if (!token.ok()) ExitWith(token.status());
    token_ = *token;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        OpenChannel({g.scheduler, g.ca_cert, g.client_cert, g.client_key,
                     g.tls_server_name});
    if (!channel.ok()) ExitWith(channel.status());
    channel_ = *channel;
    stub_ = v1::ForgetlabService::NewStub(channel_);
  }

  v1::ForgetlabService::Stub* stub() { return stub_.get(); }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // A context with a deadline, so an unreachable server fails fast.
  std::unique_ptr<grpc::ClientContext> Context(int seconds = 15) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(seconds));
    AddToken(ctx.get());
    return ctx;
  }

  void AddToken(grpc::ClientContext* ctx) const { AttachToken(token_, ctx); }

  // Prints one line for a failed call and returns the exit code.
  int Fail(const grpc::Status& s) const {
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      std::fprintf(stderr,
                   "forgetlab: cannot reach the scheduler at %s (%s); is "
                   "forgetlab-server running? Set --scheduler or "
                   "FORGETLAB_SCHEDULER; for a TLS server pass --ca_cert "
                   "(and --client_cert/--client_key if it asks for them).\n",
                   address_.c_str(), s.error_message().c_str());
    } else {
      std::fprintf(stderr, "forgetlab: %s\n", s.error_message().c_str());
    }
    return 1;
  }

 private:
  std::string address_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ForgetlabService::Stub> stub_;
};

bool IsTerminal(FILE* f) { return isatty(fileno(f)) != 0; }

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

int Submit(const Globals& g, const std::string& file, bool dry_run) {
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
  Connection c(g);
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
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      std::fprintf(stderr, "forgetlab: %s: %s\n", file.c_str(),
                   s.error_message().c_str());
      return 2;
    }
    return c.Fail(s);
  }
  if (dry_run) {
    PrintDryRun(request.sweep(), response);
    return 0;
  }
  std::printf("%s sweep %s: %d jobs (%d from the cache)\n",
              response.existing() ? "existing" : "submitted",
              response.sweep_id().c_str(), response.jobs(), response.cached());
  std::printf("%s\n", response.sweep_id().c_str());
  return 0;
}

int Status(const Globals& g, const std::string& id, const std::string& format) {
  Connection c(g);
  v1::GetSweepRequest request;
  request.set_sweep_id(id);
  v1::SweepStatus status;
  auto ctx = c.Context();
  grpc::Status s = c.stub()->GetSweep(ctx.get(), request, &status);
  if (!s.ok()) return c.Fail(s);
  std::fputs(
      (format == "json" ? StatusJson(status) : StatusText(status)).c_str(),
      stdout);
  return 0;
}

int Jobs(const Globals& g, const std::string& id, const std::string& format,
         const std::string& state) {
  Connection c(g);
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
                   "succeeded, failed, cancelled\n",
                   state.c_str());
      return 2;
    }
    request.set_state(parsed);
  }
  std::vector<v1::Job> jobs;
  for (;;) {
    v1::ListJobsResponse response;
    auto ctx = c.Context();
    grpc::Status s = c.stub()->ListJobs(ctx.get(), request, &response);
    if (!s.ok()) return c.Fail(s);
    jobs.insert(jobs.end(), response.jobs().begin(), response.jobs().end());
    if (response.next_after_job_id() == 0) break;
    request.set_after_job_id(response.next_after_job_id());
  }
  std::fputs((format == "json" ? JobsJson(jobs) : JobsText(jobs)).c_str(),
             stdout);
  return 0;
}

int Watch(const Globals& g, const std::string& id) {
  Connection c(g);
  const bool tty = IsTerminal(stdout);
  const auto start = std::chrono::steady_clock::now();
  int start_finished = -1;
  std::string last_line;
  int last_printed = -1;
  v1::SweepStatus last;
  int reconnects = 0;
  for (;;) {
    grpc::ClientContext ctx;
    c.AddToken(&ctx);
    v1::WatchSweepRequest request;
    request.set_sweep_id(id);
    auto reader = c.stub()->WatchSweep(&ctx, request);
    v1::SweepEvent event;
    while (reader->Read(&event)) {
      reconnects = 0;
      last = event.status();
      const int finished = last.succeeded() + last.failed() + last.cancelled();
      if (start_finished < 0) start_finished = finished;
      const double elapsed = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      const int done_here = finished - start_finished;
      const double eta =
          done_here > 0 ? elapsed / done_here * (last.total() - finished) : -1;
      const std::string line = ProgressLine(last, eta, tty ? 30 : 0);
      if (tty) {
        std::printf("\r%s\033[K", line.c_str());
        std::fflush(stdout);
      } else if (finished != last_printed || last.state() == "DONE") {
        // Off a terminal (logs, CI): one line per finished job.
        if (finished != last_printed || line != last_line) {
          std::printf("%s\n", line.c_str());
          std::fflush(stdout);
        }
        last_printed = finished;
      }
      last_line = line;
    }
    grpc::Status s = reader->Finish();
    if (s.ok() && last.state() == "DONE") break;
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE && ++reconnects <= 30) {
      // The scheduler restarted: reconnect and carry on.
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (tty) std::printf("\n");
    return c.Fail(s);
  }
  if (tty) std::printf("\n");
  if (last.failed() > 0 || last.cancelled() > 0) {
    std::fprintf(
        stderr,
        "forgetlab: %d job(s) failed and %d cancelled; `forgetlab jobs "
        "%s --state=failed` shows why\n",
        last.failed(), last.cancelled(), id.c_str());
    return 1;
  }
  return 0;
}

struct TableQuery {
  std::vector<std::string> ids;
  std::string metric = "forgetting";
  std::string rows = "model.width";
  std::string cols = "pretrain.examples";
  std::vector<std::string> where;  // "path=value"
  std::string agg = "mean";
  std::string format = "text";
};

// Fetches the table; on failure prints why and returns the exit code.
int FetchTable(Connection& c, const TableQuery& q, v1::Table* table) {
  v1::QueryTableRequest request;
  for (const std::string& id : q.ids) request.add_sweep_ids(id);
  request.set_metric(q.metric);
  request.set_row_axis(q.rows);
  request.set_col_axis(q.cols);
  for (const std::string& w : q.where) {
    const size_t eq = w.find('=');
    double value = 0;
    if (eq == std::string::npos ||
        !absl::SimpleAtod(w.substr(eq + 1), &value)) {
      std::fprintf(stderr,
                   "forgetlab: --where=%s is not PATH=NUMBER (e.g. "
                   "--where finetune.lr=0.01)\n",
                   w.c_str());
      return 2;
    }
    v1::AxisFilter* filter = request.add_where();
    filter->set_path(w.substr(0, eq));
    filter->set_value(value);
  }
  auto ctx = c.Context();
  grpc::Status s = c.stub()->QueryTable(ctx.get(), request, table);
  return s.ok() ? 0 : c.Fail(s);
}

int Table(const Globals& g, const TableQuery& q) {
  Connection c(g);
  v1::Table table;
  if (int code = FetchTable(c, q, &table); code != 0) return code;
  const Aggregation agg = q.agg == "median" ? Aggregation::kMedian
                          : q.agg == "raw"  ? Aggregation::kRaw
                                            : Aggregation::kMean;
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

int Cancel(const Globals& g, const std::string& id,
           const std::vector<int64_t>& job_ids) {
  Connection c(g);
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

// Writes `text` to `path` whole (temporary file, then rename).
int WriteOutput(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) {
      std::fprintf(stderr, "forgetlab: cannot write %s\n", path.c_str());
      return 1;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "forgetlab: cannot write %s\n", path.c_str());
    return 1;
  }
  return 0;
}

int Plot(const Globals& g, const TableQuery& q, const std::string& out) {
  Connection c(g);
  v1::Table table;
  if (int code = FetchTable(c, q, &table); code != 0) return code;
  if (int code = WriteOutput(out, PaperFigureSvg(table, true)); code != 0) {
    return code;
  }
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

int Report(const Globals& g, const TableQuery& q, const std::string& out) {
  Connection c(g);
  ReportInput input;
  {
    v1::GetSweepRequest request;
    request.set_sweep_id(q.ids.front());
    auto ctx = c.Context();
    grpc::Status s = c.stub()->GetSweep(ctx.get(), request, &input.sweep);
    if (!s.ok()) return c.Fail(s);
  }
  if (int code = FetchTable(c, q, &input.table); code != 0) return code;
  v1::ListResultsRequest request;
  request.set_sweep_id(q.ids.front());
  for (;;) {
    v1::ListResultsResponse response;
    auto ctx = c.Context(60);
    grpc::Status s = c.stub()->ListResults(ctx.get(), request, &response);
    if (!s.ok()) return c.Fail(s);
    for (auto& entry : *response.mutable_results()) {
      input.results.push_back(std::move(entry));
    }
    if (response.next_after_job_id() == 0) break;
    request.set_after_job_id(response.next_after_job_id());
  }
  if (int code = WriteOutput(out, ReportHtml(input)); code != 0) return code;
  std::printf("wrote %s (%zu results)\n", out.c_str(), input.results.size());
  return 0;
}

int Retry(const Globals& g, const std::string& id) {
  Connection c(g);
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

int Sweeps(const Globals& g) {
  Connection c(g);
  v1::ListSweepsResponse response;
  auto ctx = c.Context();
  grpc::Status s =
      c.stub()->ListSweeps(ctx.get(), v1::ListSweepsRequest(), &response);
  if (!s.ok()) return c.Fail(s);
  std::fputs(
      SweepsText({response.sweeps().begin(), response.sweeps().end()}).c_str(),
      stdout);
  return 0;
}

int Workers(const Globals& g) {
  Connection c(g);
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

int Health(const Globals& g, const std::string& service) {
  Connection c(g);
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
                 g.scheduler.c_str(), s.error_message().c_str());
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

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{
      "forgetlab: catastrophic-forgetting scaling experiments.\n"
      "Example:\n"
      "  id=$(forgetlab submit deploy/sweeps/default.textproto | tail -n1)\n"
      "  forgetlab watch $id && forgetlab table $id"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--scheduler", g.scheduler, "scheduler address host:port")
      ->envname("FORGETLAB_SCHEDULER")
      ->default_str(kDefaultScheduler);
  app.add_option("--token", g.token,
                 "bearer token sent with every call, for servers with tokens "
                 "(default: $FORGETLAB_TOKEN; --token is visible in ps)");
  app.add_option("--token_file", g.token_file,
                 "file whose first line is the token");
  app.add_option("--ca_cert", g.ca_cert,
                 "PEM CA that signed the scheduler's certificate; set it to "
                 "use TLS")
      ->envname("FORGETLAB_CA_CERT");
  app.add_option("--client_cert", g.client_cert,
                 "PEM client certificate, for schedulers with --client_ca")
      ->envname("FORGETLAB_CLIENT_CERT");
  app.add_option("--client_key", g.client_key,
                 "PEM private key of --client_cert")
      ->envname("FORGETLAB_CLIENT_KEY");
  app.add_option("--tls_server_name", g.tls_server_name,
                 "name in the scheduler's certificate, when it differs from "
                 "the host in --scheduler");
  int code = 0;

  std::string file;
  CLI::App* submit = app.add_subcommand(
      "submit",
      "Submit a sweep file (.textproto or .json); prints the sweep id on the "
      "last line.\nExample: forgetlab submit deploy/sweeps/default.textproto");
  submit->add_option("FILE", file, "sweep file")->required();
  bool dry_run = false;
  submit->add_flag("--dry-run", dry_run,
                   "print the grid, the number of jobs, cache hits and a "
                   "cost estimate; submit nothing");
  submit->callback([&] { code = Submit(g, file, dry_run); });

  std::string id, format = "text";
  CLI::App* status = app.add_subcommand(
      "status",
      "A sweep's state and job counts.\nExample: forgetlab status "
      "sw-1a2b3c4d5e --format=json");
  status->add_option("SWEEP", id, "sweep id")->required();
  status->add_option("--format", format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  status->callback([&] { code = Status(g, id, format); });

  CLI::App* watch = app.add_subcommand(
      "watch",
      "Live progress until the sweep is done (exit 1 if any job failed)."
      "\nExample: forgetlab watch sw-1a2b3c4d5e");
  watch->add_option("SWEEP", id, "sweep id")->required();
  watch->callback([&] { code = Watch(g, id); });

  std::string state;
  CLI::App* jobs = app.add_subcommand(
      "jobs",
      "A sweep's jobs.\nExample: forgetlab jobs sw-1a2b3c4d5e "
      "--state=failed");
  jobs->add_option("SWEEP", id, "sweep id")->required();
  jobs->add_option("--format", format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  jobs->add_option("--state", state,
                   "only jobs in this state: queued, leased, succeeded, "
                   "failed, cancelled");
  jobs->callback([&] { code = Jobs(g, id, format, state); });

  TableQuery query;
  auto add_table_options = [&](CLI::App* cmd) {
    cmd->add_option("SWEEP", query.ids, "one or more sweep ids")->required();
    cmd->add_option("--metric", query.metric,
                    "forgetting, avg_forgetting, bwt, acc, rel_forgetting, "
                    "pretrain_accuracy")
        ->capture_default_str();
    cmd->add_option("--rows", query.rows, "row axis (a field path)")
        ->capture_default_str();
    cmd->add_option("--cols", query.cols, "column axis (a field path)")
        ->capture_default_str();
    cmd->add_option("--where", query.where,
                    "only results with PATH=VALUE, e.g. finetune.lr=0.01 "
                    "(repeatable)");
  };
  CLI::App* table = app.add_subcommand(
      "table",
      "A metric aggregated over two axes: mean ± 95% CI (Student t) over "
      "seeds, the median, or the raw values.\nExample: forgetlab table "
      "sw-1a2b3c4d5e --metric=forgetting --rows=model.width "
      "--cols=pretrain.examples --format=markdown");
  add_table_options(table);
  table->add_option("--agg", query.agg, "mean (± 95% CI), median or raw")
      ->check(CLI::IsMember({"mean", "median", "raw"}))
      ->capture_default_str();
  table->add_option("--format", query.format, "text, markdown, csv or json")
      ->check(CLI::IsMember({"text", "markdown", "csv", "json"}))
      ->capture_default_str();
  table->callback([&] { code = Table(g, query); });

  std::string out;
  CLI::App* report = app.add_subcommand(
      "report",
      "Write a self-contained HTML report: heatmap, forgetting vs model size "
      "with error bars, forgetting frontiers, accuracy matrices, the spec."
      "\nExample: forgetlab report sw-1a2b3c4d5e --out=report.html");
  add_table_options(report);
  report->add_option("--out", out, "HTML file to write")->required();
  report->callback([&] { code = Report(g, query, out); });

  CLI::App* plot = app.add_subcommand(
      "plot",
      "Write the paper-style figure (metric vs parameter count, one line "
      "per pretraining size, 95% CI error bars) as SVG.\nExample: forgetlab "
      "plot sw-1a2b3c4d5e --out=fig.svg");
  add_table_options(plot);
  plot->add_option("--out", out, "SVG file to write")->required();
  plot->callback([&] { code = Plot(g, query, out); });

  CLI::App* cancel = app.add_subcommand(
      "cancel",
      "Cancel a sweep: queued jobs at once, running jobs at their "
      "next heartbeat.\nExample: forgetlab cancel sw-1a2b3c4d5e");
  cancel->add_option("SWEEP", id, "sweep id")->required();
  std::vector<int64_t> cancel_jobs;
  cancel->add_option("--job", cancel_jobs,
                     "cancel only this job (repeatable); default: all jobs");
  cancel->callback([&] { code = Cancel(g, id, cancel_jobs); });

  CLI::App* retry = app.add_subcommand(
      "retry",
      "Queue a sweep's failed and cancelled jobs again (succeeded jobs are "
      "kept).\nExample: forgetlab retry sw-1a2b3c4d5e");
  retry->add_option("SWEEP", id, "sweep id")->required();
  retry->callback([&] { code = Retry(g, id); });

  CLI::App* sweeps = app.add_subcommand(
      "sweeps", "List sweeps, newest first.\nExample: forgetlab sweeps");
  sweeps->callback([&] { code = Sweeps(g); });

  CLI::App* workers = app.add_subcommand(
      "workers", "List workers and what they run.\nExample: forgetlab workers");
  workers->callback([&] { code = Workers(g); });

  std::string service;
  CLI::App* health = app.add_subcommand(
      "health",
      "Ask a gRPC health service (the scheduler, or a worker's "
      "--health_listen port) whether it is serving. Exit 0 when SERVING.\n"
      "Example: forgetlab --scheduler=127.0.0.1:8081 health "
      "--service=forgetlab.worker");
  health->add_option("--service", service,
                     "service to ask about; \"\" (default) is the whole "
                     "server");
  health->callback([&] { code = Health(g, service); });

  // Global options may follow the subcommand too.
  app.fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return code;
}

}  // namespace forgetlab
