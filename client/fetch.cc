// Fetching pages of jobs, results and tables, and writing output files.
#include "client/fetch.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace forgetlab {

// Every job `request` selects, page by page; on failure prints why and
// returns the exit code.
int FetchJobs(Connection& c, v1::ListJobsRequest request,
              std::vector<v1::Job>* jobs, std::string* waiting) {
  for (;;) {
    v1::ListJobsResponse response;
    auto ctx = c.Context();
    grpc::Status s = c.stub()->ListJobs(ctx.get(), request, &response);
    if (!s.ok()) return c.Fail(s);
    if (waiting != nullptr && !response.waiting().empty()) {
      *waiting = response.waiting();
    }
    jobs->insert(jobs->end(), response.jobs().begin(), response.jobs().end());
    if (response.next_after_job_id() == 0) return 0;
    request.set_after_job_id(response.next_after_job_id());
  }
}

// Every stored result of a sweep, page by page.
int FetchResults(Connection& c, const std::string& id,
                 std::vector<v1::JobResultEntry>* results) {
  v1::ListResultsRequest request;
  request.set_sweep_id(id);
  for (;;) {
    v1::ListResultsResponse response;
    auto ctx = c.Context(60);
    grpc::Status s = c.stub()->ListResults(ctx.get(), request, &response);
    if (!s.ok()) return c.Fail(s);
    for (auto& entry : *response.mutable_results()) {
      results->push_back(std::move(entry));
    }
    if (response.next_after_job_id() == 0) return 0;
    request.set_after_job_id(response.next_after_job_id());
  }
}

int FetchSweep(Connection& c, const std::string& id, v1::SweepStatus* status) {
  v1::GetSweepRequest request;
  request.set_sweep_id(id);
  auto ctx = c.Context();
  grpc::Status s = c.stub()->GetSweep(ctx.get(), request, status);
  return s.ok() ? 0 : c.Fail(s);
}

std::optional<std::vector<v1::AxisFilter>> ParseWhere(
    const std::vector<std::string>& where) {
  std::vector<v1::AxisFilter> filters;
  for (const std::string& w : where) {
    const size_t eq = w.find('=');
    double value = 0;
    if (eq == std::string::npos ||
        !absl::SimpleAtod(w.substr(eq + 1), &value)) {
      std::fprintf(stderr,
                   "forgetlab: --where=%s is not PATH=NUMBER (e.g. "
                   "--where finetune.lr=0.01)\n",
                   w.c_str());
      return std::nullopt;
    }
    v1::AxisFilter& filter = filters.emplace_back();
    filter.set_path(w.substr(0, eq));
    filter.set_value(value);
  }
  return filters;
}

// Fetches the table; on failure prints why and returns the exit code.
int FetchTable(Connection& c, const TableQuery& q, v1::Table* table) {
  if (q.rows == q.cols) {
    std::fprintf(stderr,
                 "forgetlab: --rows and --cols are both %s; pick two "
                 "different fields (e.g. --rows=model.width "
                 "--cols=pretrain.examples)\n",
                 q.rows.c_str());
    return 2;
  }
  v1::QueryTableRequest request;
  for (const std::string& id : q.ids) request.add_sweep_ids(id);
  request.set_metric(q.metric);
  request.set_row_axis(q.rows);
  request.set_col_axis(q.cols);
  std::optional<std::vector<v1::AxisFilter>> where = ParseWhere(q.where);
  if (!where) return 2;
  for (v1::AxisFilter& filter : *where)
    *request.add_where() = std::move(filter);
  auto ctx = c.Context();
  grpc::Status s = c.stub()->QueryTable(ctx.get(), request, table);
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    // An unknown metric or axis: the command line is at fault.
    std::fprintf(stderr, "forgetlab: %s\n", s.error_message().c_str());
    return 2;
  }
  if (!s.ok()) return c.Fail(s);
  if (q.strict && table->pooled_over_size() > 0) {
    std::vector<std::string> axes;
    for (const v1::PooledAxis& p : table->pooled_over()) {
      axes.push_back(
          absl::StrCat(p.path(), " (", absl::StrJoin(p.values(), ", "), ")"));
    }
    std::fprintf(stderr,
                 "forgetlab: --strict: the cells pool over %s; fix each with "
                 "--where PATH=VALUE, or make it --rows or --cols\n",
                 absl::StrJoin(axes, ", ").c_str());
    return 2;
  }
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

}  // namespace forgetlab
