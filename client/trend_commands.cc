// fit, compare and extend.
#include "client/trend_commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/compare.h"
#include "client/fits.h"

namespace forgetlab {

int RunFit(Connection& c, const FitQuery& q) {
  TableQuery table_query;
  table_query.ids = q.ids;
  table_query.metric = q.metric;
  table_query.where = q.where;
  FitLayout layout;
  layout.x = q.x;
  layout.bootstrap = {q.resamples, q.seed};
  const std::string by = q.by.empty() ? "pretrain.examples" : q.by;
  if (q.x == kParameterCount) {
    table_query.rows = "";  // the server's model axis
    table_query.cols = by;
  } else if (q.by.empty() && q.x == "pretrain.examples") {
    table_query.rows = "";  // groups: the model sizes
    table_query.cols = q.x;
    layout.x_on_cols = true;
  } else {
    table_query.rows = q.x;
    table_query.cols = by;
  }
  v1::Table table;
  if (int code = FetchTable(c, table_query, &table); code != 0) return code;
  absl::StatusOr<FitReport> report = FitTable(table, layout);
  if (!report.ok()) return PrintError(report.status(), 2);
  std::fputs((q.format == "json" ? FitJson(*report) : FitText(*report)).c_str(),
             stdout);
  return 0;
}

int RunCompare(Connection& c, const std::string& id, const std::string& metric,
               const std::string& axis, double a, double b,
               const std::string& format) {
  if (a == b) {
    std::fprintf(stderr, "forgetlab: --a and --b are both %g\n", a);
    return 2;
  }
  std::vector<v1::JobResultEntry> results;
  if (int code = FetchResults(c, id, &results); code != 0) return code;
  absl::StatusOr<Comparison> comparison =
      ComparePairs(results, metric, axis, a, b);
  if (!comparison.ok()) return PrintError(comparison.status(), 2);
  std::fputs((format == "json" ? ComparisonJson(*comparison)
                               : ComparisonText(*comparison))
                 .c_str(),
             stdout);
  return 0;
}

namespace {

// "3-9" or "3,4,7" (or a mix: "0,5-7").
absl::StatusOr<std::vector<int64_t>> ParseSeeds(const std::string& text) {
  std::vector<int64_t> seeds;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    std::vector<std::string> ends = absl::StrSplit(part, '-');
    int64_t lo = 0, hi = 0;
    if (ends.size() > 2 || !absl::SimpleAtoi(ends[0], &lo) ||
        !absl::SimpleAtoi(ends.back(), &hi) || lo < 0 || hi < lo ||
        hi - lo >= kMaxSeedsAtOnce) {
      return absl::InvalidArgumentError(
          absl::StrCat("--seeds=", text,
                       " is not a list of seeds or ranges (e.g. 3-9 or "
                       "3,4,7), each seed >= 0, at most ",
                       kMaxSeedsAtOnce, " at once"));
    }
    for (int64_t s = lo; s <= hi; ++s) seeds.push_back(s);
  }
  return seeds;
}

// "finetune.lr=0.1,0.3".
absl::StatusOr<v1::Axis> ParseAdd(const std::string& text) {
  const size_t eq = text.find('=');
  v1::Axis axis;
  if (eq != std::string::npos && eq > 0) {
    axis.set_path(text.substr(0, eq));
    for (absl::string_view v : absl::StrSplit(text.substr(eq + 1), ',')) {
      double value = 0;
      if (!absl::SimpleAtod(v, &value)) {
        axis.clear_values();
        break;
      }
      axis.add_values(value);
    }
  }
  if (axis.values().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--add=", text,
                     " is not AXIS=VALUES (e.g. --add finetune.lr=0.1,0.3)"));
  }
  return axis;
}

int CallExtend(Connection& c, const v1::ExtendSweepRequest& request,
               v1::ExtendSweepResponse* response) {
  auto ctx = c.Context(60);
  grpc::Status s = c.stub()->ExtendSweep(ctx.get(), request, response);
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    std::fprintf(stderr, "forgetlab: %s\n", s.error_message().c_str());
    return 2;
  }
  return s.ok() ? 0 : c.Fail(s);
}

// Waits until none of the sweep's jobs is queued or leased.
int WaitForSweep(Connection& c, const std::string& id, int poll_ms) {
  int last_open = -1;
  for (;;) {
    v1::SweepStatus status;
    if (int code = FetchSweep(c, id, &status); code != 0) return code;
    const int open = status.queued() + status.leased();
    if (open == 0) return 0;
    if (open != last_open) {
      std::printf("  waiting for %d job(s) of %d (%d succeeded)\n", open,
                  status.total(), status.succeeded());
      std::fflush(stdout);
      last_open = open;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

std::string CellName(const v1::Table& t, const v1::TableCell& cell) {
  return absl::StrFormat("%s=%g, %s=%g", t.row_axis(), cell.row(), t.col_axis(),
                         cell.col());
}

int ExtendUntilNarrow(Connection& c, const ExtendQuery& q) {
  for (int round = 1;; ++round) {
    if (int code = WaitForSweep(c, q.id, q.poll_ms); code != 0) return code;
    v1::Table table;
    if (int code = FetchTable(c, q.table, &table); code != 0) return code;
    const std::vector<v1::AxisFilter> where =
        ParseWhere(q.table.where).value_or(std::vector<v1::AxisFilter>{});
    // The seeds each cell has (queued and failed jobs included), and the
    // largest seed of the sweep: new seeds start above it.
    v1::ListJobsRequest jobs_request;
    jobs_request.set_sweep_id(q.id);
    std::vector<v1::Job> jobs;
    if (int code = FetchJobs(c, jobs_request, &jobs); code != 0) return code;
    double max_seed = -1;
    for (const v1::Job& job : jobs) {
      auto seed = job.axis_values().find("seed");
      if (seed != job.axis_values().end()) {
        max_seed = std::max(max_seed, seed->second);
      }
    }
    // A job is in a cell unless one of its axes says otherwise (a field
    // that is not an axis has one value in the whole sweep).
    auto seeds_in = [&](const v1::TableCell& cell) {
      std::vector<std::pair<std::string, double>> fixed = {
          {table.row_axis(), cell.row()}, {table.col_axis(), cell.col()}};
      for (const v1::AxisFilter& f : where) {
        fixed.emplace_back(f.path(), f.value());
      }
      std::set<double> found;
      for (const v1::Job& job : jobs) {
        const auto& axes = job.axis_values();
        const bool inside =
            std::all_of(fixed.begin(), fixed.end(), [&axes](const auto& f) {
              auto it = axes.find(f.first);
              return it == axes.end() || it->second == f.second;
            });
        auto seed = axes.find("seed");
        if (inside && seed != axes.end()) found.insert(seed->second);
      }
      return static_cast<int>(found.size());
    };
    // Cells still too wide, by how many seeds they may still get.
    std::map<int, std::vector<const v1::TableCell*>> wide;
    int narrow = 0, capped = 0;
    const v1::TableCell* widest = nullptr;
    for (const v1::TableCell& cell : table.cells()) {
      const double half = cell.ci95_high() - cell.mean();
      if (cell.n() >= 2 && half <= q.until_ci) {
        ++narrow;
        continue;
      }
      if (widest == nullptr || half > widest->ci95_high() - widest->mean()) {
        widest = &cell;
      }
      const int have = seeds_in(cell);
      const int room = std::min(q.batch, q.max_seeds - have);
      if (room <= 0) {
        ++capped;
        continue;
      }
      wide[room].push_back(&cell);
    }
    if (wide.empty()) {
      std::printf(
          "sweep %s: %d of %d cells have a 95%% CI half-width <= %g on %s",
          q.id.c_str(), narrow, table.cells_size(), q.until_ci,
          table.metric().c_str());
      if (capped > 0) {
        std::printf(
            "; %d reached --max_seeds=%d while wider (widest: %s, "
            "±%.4g)\n",
            capped, q.max_seeds, CellName(table, *widest).c_str(),
            widest->ci95_high() - widest->mean());
        return 1;
      }
      std::printf("\n");
      return 0;
    }
    int cells = 0, added = 0, cached = 0;
    for (const auto& [room, group] : wide) cells += group.size();
    std::printf("round %d: %d of %d cells wider than ±%g (widest: %s, ±%.4g)\n",
                round, cells, table.cells_size(), q.until_ci,
                CellName(table, *widest).c_str(),
                widest->ci95_high() - widest->mean());
    for (const auto& [room, group] : wide) {
      v1::ExtendSweepRequest request;
      request.set_sweep_id(q.id);
      for (int k = 1; k <= room; ++k) {
        request.add_seeds(static_cast<int64_t>(max_seed) + k);
      }
      for (const v1::TableCell* cell : group) {
        v1::CellFilter* only = request.add_only();
        v1::AxisFilter* f = only->add_where();
        f->set_path(table.row_axis());
        f->set_value(cell->row());
        f = only->add_where();
        f->set_path(table.col_axis());
        f->set_value(cell->col());
        for (const v1::AxisFilter& w : where) *only->add_where() = w;
      }
      v1::ExtendSweepResponse response;
      if (int code = CallExtend(c, request, &response); code != 0) return code;
      added += response.added();
      cached += response.cached();
      std::printf("  seeds %lld..%lld for %zu cell(s): %d job(s) added\n",
                  static_cast<long long>(max_seed) + 1,
                  static_cast<long long>(max_seed) + room, group.size(),
                  response.added());
    }
    std::printf("  %d job(s) added, %d from the cache\n", added, cached);
    std::fflush(stdout);
    if (added == 0) {
      std::fprintf(stderr,
                   "forgetlab: no job could be added (the cells' seeds are "
                   "already there); stopping\n");
      return 1;
    }
  }
}

}  // namespace

int RunExtend(Connection& c, const ExtendQuery& q) {
  if (q.until_ci > 0) {
    if (!q.seeds.empty() || !q.add.empty()) {
      std::fprintf(stderr,
                   "forgetlab: --until_ci picks its own seeds; run --seeds "
                   "or --add first, separately\n");
      return 2;
    }
    return ExtendUntilNarrow(c, q);
  }
  v1::ExtendSweepRequest request;
  request.set_sweep_id(q.id);
  request.set_dry_run(q.dry_run);
  if (!q.seeds.empty()) {
    absl::StatusOr<std::vector<int64_t>> seeds = ParseSeeds(q.seeds);
    if (!seeds.ok()) return PrintError(seeds.status(), 2);
    for (int64_t s : *seeds) request.add_seeds(s);
  }
  for (const std::string& text : q.add) {
    absl::StatusOr<v1::Axis> axis = ParseAdd(text);
    if (!axis.ok()) return PrintError(axis.status(), 2);
    *request.add_add() = *std::move(axis);
  }
  if (request.seeds().empty() && request.add().empty()) {
    std::fprintf(stderr,
                 "forgetlab: give --seeds, --add or --until_ci (e.g. "
                 "forgetlab extend %s --seeds=3-9)\n",
                 q.id.c_str());
    return 2;
  }
  v1::ExtendSweepResponse response;
  if (int code = CallExtend(c, request, &response); code != 0) return code;
  std::printf(
      "sweep %s: %d job(s) %s (%d from the cache), %d already there; "
      "%d job(s) in all\n",
      q.id.c_str(), response.added(), q.dry_run ? "would be added" : "added",
      response.cached(), response.present(), response.jobs());
  return 0;
}

}  // namespace forgetlab
