// The forgetlab command line: CLI11 wiring of the subcommands.
#include "client/cli.h"

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "client/artifact_commands.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/trend_cli.h"

namespace forgetlab {

int RunCli(int argc, char** argv) {
  CLI::App app{
      "forgetlab: catastrophic-forgetting scaling experiments.\n"
      "Example:\n"
      "  id=$(forgetlab submit deploy/sweeps/default.textproto | tail -n1)\n"
      "  forgetlab watch $id && forgetlab table $id"};
  app.require_subcommand(1);
  ConnectionOptions g;
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
  submit->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunSubmit(c, file, dry_run); });
  });

  std::string id, format = "text";
  CLI::App* status = app.add_subcommand(
      "status",
      "A sweep's state and job counts.\nExample: forgetlab status "
      "sw-1a2b3c4d5e --format=json");
  status->add_option("SWEEP", id, "sweep id")->required();
  status->add_option("--format", format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  status->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunStatus(c, id, format); });
  });

  int reconnect_seconds = 300;
  CLI::App* watch = app.add_subcommand(
      "watch",
      "Live progress until the sweep is done. Exit 0 when every experiment "
      "succeeded, 1 when any failed or was cancelled, 3 when the scheduler "
      "stayed unreachable for --reconnect_seconds.\nExample: forgetlab "
      "watch sw-1a2b3c4d5e");
  watch->add_option("SWEEP", id, "sweep id")->required();
  watch
      ->add_option("--reconnect_seconds", reconnect_seconds,
                   "how long to keep reconnecting to a scheduler that went "
                   "away")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  watch->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunWatch(c, id, reconnect_seconds); });
  });

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
                   "failed, cancelled, waiting (for shared pretraining)");
  jobs->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunJobs(c, id, format, state); });
  });

  TableQuery query;
  auto add_table_options = [&](CLI::App* cmd) {
    cmd->add_option("SWEEP", query.ids, "one or more sweep ids")->required();
    cmd->add_option("--metric", query.metric,
                    "forgetting, avg_forgetting, bwt, acc, rel_forgetting, "
                    "fg_relative, pretrain_accuracy; for LM sweeps also "
                    "loss_forgetting, pretrain_forgetting, "
                    "pretrain_progress_lost, fg_general")
        ->capture_default_str();
    cmd->add_option("--rows", query.rows,
                    "row axis (a field path); default: the first sweep's "
                    "first model.* axis, else model.width");
    cmd->add_option("--cols", query.cols, "column axis (a field path)")
        ->capture_default_str();
    cmd->add_option("--where", query.where,
                    "only results with PATH=VALUE, e.g. finetune.lr=0.01 "
                    "(repeatable)");
    cmd->add_flag("--strict", query.strict,
                  "fail (exit 2) when the cells pool over a field that "
                  "neither --rows, --cols nor --where fixes");
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
  table->callback([&] {
    code = WithConnection(g, [&](Connection& c) { return RunTable(c, query); });
  });

  bool curves = false;
  std::string results_format = "csv";
  CLI::App* results = app.add_subcommand(
      "results",
      "Every succeeded job as one row: job_id, sweep_id, seed, the axes, the "
      "metrics, parameter_count, the resolved spec as dotted paths and the "
      "provenance (forgetlab version and commit, LibTorch, BLAS, device, "
      "threads).\nExample: forgetlab results sw-1a2b3c4d5e --format=csv > "
      "results.csv");
  results->add_option("SWEEP", id, "sweep id")->required();
  results->add_option("--format", results_format, "csv or jsonl")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  results->add_flag("--curves", curves,
                    "add the forgetting curves in long format (CSV: one line "
                    "per point and task; JSON Lines: a \"curves\" list)");
  results->callback([&] {
    code = WithConnection(g, [&](Connection& c) {
      return RunResults(c, id, results_format, curves);
    });
  });

  std::string out;
  CLI::App* report = app.add_subcommand(
      "report",
      "Write a self-contained HTML report: heatmap, forgetting vs model size "
      "with error bars, forgetting frontiers, accuracy matrices, the spec."
      "\nExample: forgetlab report sw-1a2b3c4d5e --out=report.html");
  add_table_options(report);
  report->add_option("--out", out, "HTML file to write")->required();
  report
      ->add_option("--agg", query.agg,
                   "mean (± 95% CI) or median over seeds, in the heatmap "
                   "and the figure")
      ->check(CLI::IsMember({"mean", "median"}))
      ->capture_default_str();
  report->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunReport(c, query, out); });
  });

  CLI::App* plot = app.add_subcommand(
      "plot",
      "Write the paper-style figure (metric vs parameter count, one line "
      "per pretraining size, 95% CI error bars) as SVG.\nExample: forgetlab "
      "plot sw-1a2b3c4d5e --out=fig.svg");
  add_table_options(plot);
  plot->add_option("--out", out, "SVG file to write")->required();
  plot->add_option("--agg", query.agg, "mean (± 95% CI) or median over seeds")
      ->check(CLI::IsMember({"mean", "median"}))
      ->capture_default_str();
  plot->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunPlot(c, query, out); });
  });

  CLI::App* cancel = app.add_subcommand(
      "cancel",
      "Cancel a sweep: queued jobs at once, running jobs at their "
      "next heartbeat.\nExample: forgetlab cancel sw-1a2b3c4d5e");
  cancel->add_option("SWEEP", id, "sweep id")->required();
  std::vector<int64_t> cancel_jobs;
  cancel->add_option("--job", cancel_jobs,
                     "cancel only this job (repeatable); default: all jobs");
  cancel->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunCancel(c, id, cancel_jobs); });
  });

  CLI::App* retry = app.add_subcommand(
      "retry",
      "Queue a sweep's failed and cancelled jobs again (succeeded jobs are "
      "kept).\nExample: forgetlab retry sw-1a2b3c4d5e");
  retry->add_option("SWEEP", id, "sweep id")->required();
  retry->callback([&] {
    code = WithConnection(g, [&](Connection& c) { return RunRetry(c, id); });
  });

  CLI::App* remove = app.add_subcommand(
      "delete",
      "Delete a finished sweep with its jobs and results (its owner or an "
      "admin); cancel a running one first. Other sweeps keep the results "
      "they were served from the cache.\nExample: forgetlab delete "
      "sw-1a2b3c4d5e");
  remove->add_option("SWEEP", id, "sweep id")->required();
  remove->callback([&] {
    code = WithConnection(g, [&](Connection& c) { return RunDelete(c, id); });
  });

  std::string worker_token_name;
  CLI::App* invalidate = app.add_subcommand(
      "invalidate",
      "Admin: drop every result that a worker with this token produced (a "
      "compromised or broken worker), cached copies included, and queue "
      "those jobs again.\nExample: forgetlab invalidate "
      "--worker_token_name=gpu-node-7");
  invalidate
      ->add_option("--worker_token_name", worker_token_name,
                   "the name the worker's token was made with (`forgetlab-"
                   "server tokens add --name`)")
      ->required();
  invalidate->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunInvalidate(c, worker_token_name); });
  });

  CLI::App* sweeps = app.add_subcommand(
      "sweeps",
      "List sweeps, newest first.\nExample: forgetlab sweeps --limit=20");
  int sweeps_limit = 100;
  sweeps
      ->add_option("--limit", sweeps_limit,
                   "How many sweeps, newest first; 0 lists all")
      ->capture_default_str();
  sweeps->callback([&] {
    code = WithConnection(
        g, [&](Connection& c) { return RunSweeps(c, sweeps_limit); });
  });

  CLI::App* workers = app.add_subcommand(
      "workers", "List workers and what they run.\nExample: forgetlab workers");
  workers->callback([&] {
    code = WithConnection(g, [&](Connection& c) { return RunWorkers(c); });
  });

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
  health->callback([&] {
    code =
        WithConnection(g, [&](Connection& c) { return RunHealth(c, service); });
  });

  TrendOptions trend;
  AddTrendSubcommands(app, g, &trend, &code);
  AddArtifactsSubcommand(app, g, &code);

  // Global options may follow the subcommand too.
  app.fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" that exits 0; every real one is bad usage.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return code;
}

}  // namespace forgetlab
