// The results tables: one row per SUCCEEDED job with its metrics and curve
// points, and the metric samples that tables aggregate.
#ifndef FORGETLAB_STORAGE_RESULT_TABLE_H_
#define FORGETLAB_STORAGE_RESULT_TABLE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/records.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace forgetlab::storage {

class StatementCache;

// Not thread-safe: see WorkerTable.
class ResultTable {
 public:
  ResultTable(SQLite::Database& db, StatementCache& statements)
      : db_(db), statements_(statements) {}

  // Stores the result of job `job_id` of sweep `sweep_id`, produced by a
  // worker of token `worker_token_name` from pretrained weights uploaded by
  // one of token `pretrain_token_name` (nullopt: it pretrained itself), for
  // InvalidateResults.
  void Insert(int64_t job_id, const std::string& sweep_id,
              const ResultRecord& result, const std::string& worker_token_name,
              const std::optional<std::string>& pretrain_token_name,
              int64_t now);
  // Gives `to_job` a copy of `from_job`'s result (the result cache).
  void Copy(int64_t from_job, int64_t to_job, int64_t now);
  // The stored result blob of a job; NOT_FOUND when it has none.
  absl::StatusOr<std::string> Blob(int64_t job_id);

  // Every stored value of `metric` over SUCCEEDED jobs of the sweeps, with
  // their values on the two axes, in job order. `filters` keeps only jobs
  // whose axis (path) has the value. Repeated calls are answered from
  // memory (shared, not copied) until one of the sweeps gets a new result.
  SampleSet Samples(const std::vector<std::string>& sweep_ids,
                    const std::string& metric, const std::string& row_axis,
                    const std::string& col_axis,
                    const std::vector<std::pair<std::string, double>>& filters);

  // Results of SUCCEEDED jobs of a sweep with job_id > after_job_id, in
  // job order, without their axis values.
  std::vector<ResultRow> List(const std::string& sweep_id, int64_t after_job_id,
                              int limit);

  // Deletes the results (with metrics and curves) of these jobs of one
  // sweep; returns how many there were.
  int DeleteJobs(const std::vector<int64_t>& job_ids,
                 const std::string& sweep_id);

  // Deletes every result (with its metrics and curves) stored with this
  // worker token name, cached copies included; returns (job, sweep) of
  // each.
  std::vector<std::pair<int64_t, std::string>> DropByWorkerToken(
      const std::string& worker_token_name);

  // Names of the metrics stored for SUCCEEDED jobs of the sweeps, sorted.
  std::vector<std::string> MetricNames(
      const std::vector<std::string>& sweep_ids);

 private:
  // Deletes these jobs' results with their metrics and curves; returns how
  // many results there were. The callers mark their sweeps' samples stale.
  int DeleteResults(const std::vector<int64_t>& job_ids);

  SQLite::Database& db_;
  StatementCache& statements_;

  // Samples() answers repeated queries from memory. A sweep's set of
  // SUCCEEDED jobs only grows, and only through Insert (a new sweep's cache
  // copies happen before anyone can query it), so an entry stays valid
  // while the generations of its sweeps are unchanged.
  struct CachedSamples {
    std::vector<uint64_t> generations;  // one per sweep, as when cached
    SampleSet samples;
  };
  std::map<std::string, CachedSamples> sample_cache_;
  std::map<std::string, uint64_t> sweep_generation_;
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_RESULT_TABLE_H_
