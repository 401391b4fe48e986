// The rows the store reads and writes: sweeps, jobs, leases, results and
// workers as plain structs (no SQLite, no protobuf).
#ifndef FORGETLAB_STORAGE_RECORDS_H_
#define FORGETLAB_STORAGE_RECORDS_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace forgetlab::storage {

// Numbered as forgetlab.v1.JobState.
enum class JobState {
  kQueued = 1,
  kLeased = 2,
  kSucceeded = 3,
  kFailed = 4,
  kCancelled = 5,
  kWaiting = 6,  // for its shared pretraining artifact
};
const char* JobStateName(JobState state);  // "QUEUED", ...

struct NewJob {
  std::string spec;      // serialized resolved ExperimentSpec
  std::string spec_key;  // hex content key
  std::map<std::string, double> axis_values;
  std::string dataset;  // a worker must list this dataset to lease the job
  // Shared pretraining: the job's pretraining key when the sweep shares
  // pretraining and the job pretrains ("" otherwise). SweepTable decides
  // whether the job waits for an artifact or pretrains itself.
  std::string artifact_key;
};

struct NewSweep {
  std::string name;
  std::string spec;        // serialized SweepSpec as submitted
  std::string request_id;  // "" = not idempotent
  int priority = 0;
  int max_attempts = 3;
  std::string owner;
  std::string device_kind;  // "" any, "cpu", "cuda"
  // Complete jobs whose identical spec already has a result from that
  // result, marked cached (a sweep's `rerun` turns this off).
  bool use_cache = true;
  std::vector<NewJob> jobs;
  // The owner's quotas (0: none), checked in the sweep's own transaction:
  // queued jobs, sweeps in the last hour, and bytes of sweep and job specs
  // stored.
  int64_t max_queued_jobs = 0;
  int max_sweeps_per_hour = 0;
  int64_t max_stored_bytes = 0;
};

// What growing a sweep did (SweepTable::Extend).
struct Extension {
  int added = 0;    // jobs added
  int cached = 0;   // of those, served from the cache
  int present = 0;  // jobs offered that the sweep already had
  int total = 0;    // jobs the sweep has after it (before it, on a dry run)
};

struct SweepRow {
  std::string sweep_id;
  std::string name;
  std::string spec;
  std::string owner;
  int priority = 0;
  int max_attempts = 0;
  int64_t created_ms = 0;
  int total = 0;
  std::array<int, 7> counts{};  // indexed by JobState
  int cached = 0;
  int pretraining = 0;  // of `total`, shared pretraining jobs
  bool done() const {
    return counts[static_cast<int>(JobState::kQueued)] == 0 &&
           counts[static_cast<int>(JobState::kLeased)] == 0 &&
           counts[static_cast<int>(JobState::kWaiting)] == 0;
  }
};

struct JobRow {
  int64_t job_id = 0;
  std::string sweep_id;
  int index = 0;
  std::string spec;
  std::string spec_key;
  JobState state = JobState::kQueued;
  int attempt = 0;
  int max_attempts = 0;
  std::string worker_id;
  std::string error;
  std::string phase;
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t lease_token = 0;  // the attempt's row: ordering, never sent out
  std::string lease_key;    // the lease's secret, sent to its worker only
  int64_t deadline_ms = 0;
  bool cancel_requested = false;
  bool cached = false;
  int64_t updated_ms = 0;
  std::string dataset;
  std::string device_kind;
  std::map<std::string, double> axis_values;
  std::string kind = "experiment";  // or "pretrain"
  std::string artifact_key;         // needed (experiment) or made (pretrain)
};

inline constexpr char kPretrainKind[] = "pretrain";

// A stored shared-pretraining artifact (its bytes are the server's file).
struct ArtifactRow {
  std::string key;
  std::string sha256;
  int64_t size_bytes = 0;
  std::string device;
  int threads = 0;
  std::string worker_token_name;
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;
  // Listing only: sweeps with jobs that use it (the first 100), and jobs
  // queued, waiting or leased that need it.
  std::vector<std::string> sweep_ids;
  int needed_by = 0;
};

// What an artifact change did to the jobs: the sweeps that changed (for
// watchers), and the jobs queued again or set waiting.
struct ArtifactOutcome {
  std::vector<std::string> sweep_ids;
  int released = 0;
  int waiting = 0;
};

struct Lease {
  JobRow job;
  int64_t token = 0;  // the attempt's row
  std::string key;    // 128 random bits, hex: what the worker must present
  int64_t deadline_ms = 0;
  // An experiment whose pretraining artifact is neither stored nor being
  // made: it pretrains itself and uploads the weights.
  bool upload_pretraining = false;
};

// What a worker presents for its lease: its id, the name of the token it
// called with ("" on a server without tokens) and the lease's key.
struct LeaseCredentials {
  std::string worker_id;
  std::string token_name;
  std::string lease_key;
};

struct CurveSample {
  int stage = 0;
  int step = 0;
  int task = 0;
  double accuracy = 0;
};

struct ResultRecord {
  std::map<std::string, double> metrics;
  std::vector<std::vector<double>> accuracy_matrix;
  std::vector<CurveSample> curves;
  int64_t parameter_count = 0;
  std::string device;
  double total_seconds = 0;
  std::string blob;  // serialized JobResult, returned as stored
};

struct HeartbeatOutcome {
  int64_t deadline_ms = 0;
  bool cancel = false;
};

struct CancelOutcome {
  int cancelled = 0;  // queued jobs now CANCELLED
  int stopping = 0;   // leased jobs told to stop
};

// One stored metric value with the job's coordinates on two axes; an axis
// value is absent when the axis is not one of the job's sweep axes.
struct MetricSample {
  std::string sweep_id;
  int64_t job_id = 0;
  std::string spec_key;  // equal keys: the same experiment, seed included
  std::optional<double> row;
  std::optional<double> col;
  double value = 0;
  int64_t parameter_count = 0;
  // The job's other axis values (neither row, column nor seed) as
  // "path=value;..." in path order; "" when it has none.
  std::string other_axes;
};

// A query's samples, shared with the store's cache: read-only.
using SampleSet = std::shared_ptr<const std::vector<MetricSample>>;

struct WorkerRow {
  std::string worker_id;
  std::string host;
  std::string device;
  int threads = 0;
  int64_t current_job_id = 0;
  int64_t last_seen_ms = 0;
  std::vector<std::string> datasets;
  std::string token_name;  // the token it registered with; "" without tokens
};

// A SUCCEEDED job's stored result with its axis values.
struct ResultRow {
  int64_t job_id = 0;
  std::map<std::string, double> axis_values;
  std::string blob;  // the serialized JobResult
};

}  // namespace forgetlab::storage

#endif  // FORGETLAB_STORAGE_RECORDS_H_
