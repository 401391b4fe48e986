// The CLI's subcommands over the client API. Each prints its answer to
// stdout and returns the process exit code: 0 on success, 1 when the call
// failed (or, for watch, a job failed), 2 for bad usage or input files, 3
// when watch lost the scheduler.
#ifndef FORGETLAB_CLIENT_COMMANDS_H_
#define FORGETLAB_CLIENT_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/fetch.h"

namespace forgetlab {

int RunSubmit(Connection& c, const std::string& file, bool dry_run);
int RunStatus(Connection& c, const std::string& id, const std::string& format);
int RunJobs(Connection& c, const std::string& id, const std::string& format,
            const std::string& state);
// Exit 0 when every job succeeded, 1 when any failed or was cancelled, 3
// when the scheduler stayed unreachable for `reconnect_seconds`.
int RunWatch(Connection& c, const std::string& id, int reconnect_seconds);
int RunTable(Connection& c, const TableQuery& q);
int RunPlot(Connection& c, const TableQuery& q, const std::string& out);
int RunReport(Connection& c, const TableQuery& q, const std::string& out);
// One row per succeeded job (client/results_export.h): "csv" or "jsonl".
int RunResults(Connection& c, const std::string& id, const std::string& format,
               bool curves);
int RunCancel(Connection& c, const std::string& id,
              const std::vector<int64_t>& job_ids);
int RunRetry(Connection& c, const std::string& id);
// Deletes a finished sweep (its owner or an admin).
int RunDelete(Connection& c, const std::string& id);
// Admin: drops every result of one worker token and queues its jobs again.
int RunInvalidate(Connection& c, const std::string& worker_token_name);
int RunSweeps(Connection& c, int limit);
int RunWorkers(Connection& c);
int RunHealth(Connection& c, const std::string& service);

}  // namespace forgetlab

#endif  // FORGETLAB_CLIENT_COMMANDS_H_
