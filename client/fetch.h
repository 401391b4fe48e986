// Fetching what the subcommands show: every page of a sweep's jobs or
// results, a table, and writing an output file whole. Each prints why it
// failed and returns the CLI's exit code (0 on success).
#ifndef FORGETLAB_CLIENT_FETCH_H_
#define FORGETLAB_CLIENT_FETCH_H_

#include <optional>
#include <string>
#include <vector>

#include "client/connection.h"

namespace forgetlab {

// What `table`, `plot` and `report` ask for.
struct TableQuery {
  std::vector<std::string> ids;
  std::string metric = "forgetting";
  std::string rows;  // "": the server picks (the first model.* axis)
  std::string cols = "pretrain.examples";
  std::vector<std::string> where;  // "path=value"
  std::string agg = "mean";
  std::string format = "text";
  bool strict = false;  // exit 2 when the cells pool over an unfixed field
};

// Every job `request` selects, page by page; *waiting gets the scheduler's
// note on why queued jobs wait, when it gives one.
int FetchJobs(Connection& c, v1::ListJobsRequest request,
              std::vector<v1::Job>* jobs, std::string* waiting = nullptr);
// Every stored result of a sweep, page by page.
int FetchResults(Connection& c, const std::string& id,
                 std::vector<v1::JobResultEntry>* results);
// A sweep's state and counts.
int FetchSweep(Connection& c, const std::string& id, v1::SweepStatus* status);
// `--where PATH=NUMBER` filters; nullopt, after printing why, when one is not
// PATH=NUMBER.
std::optional<std::vector<v1::AxisFilter>> ParseWhere(
    const std::vector<std::string>& where);
// The table `q` asks for (exit 2 for a bad axis, metric or filter).
int FetchTable(Connection& c, const TableQuery& q, v1::Table* table);
// Writes `text` to `path` whole (temporary file, then rename).
int WriteOutput(const std::string& path, const std::string& text);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_FETCH_H_
