// Storage rows <-> forgetlab.v1 messages.
#include "server/convert.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace forgetlab {
namespace {

bool IsAccuracy(double v) { return std::isfinite(v) && v >= 0 && v <= 1; }
// Bits per byte: finite and non-negative (an untrained model gives about 8).
bool IsLoss(double v) { return std::isfinite(v) && v >= 0; }
constexpr int kMaxTextDomains = 16;

}  // namespace

void JobToProto(const storage::JobRow& row, v1::Job* job) {
  job->set_job_id(row.job_id);
  job->set_sweep_id(row.sweep_id);
  job->set_index(row.index);
  job->mutable_spec()->ParseFromString(row.spec);
  job->set_spec_key(row.spec_key);
  job->set_state(static_cast<v1::JobState>(row.state));
  job->set_attempt(row.attempt);
  job->set_worker_id(row.worker_id);
  job->set_error(row.error);
  job->mutable_progress()->set_phase(row.phase);
  job->mutable_progress()->set_step(row.step);
  job->mutable_progress()->set_total_steps(row.total_steps);
  for (const auto& [axis, value] : row.axis_values) {
    (*job->mutable_axis_values())[axis] = value;
  }
  job->set_updated_ms(row.updated_ms);
  job->set_cached(row.cached);
  job->set_kind(row.kind);
  job->set_artifact_key(row.artifact_key);
}

void SweepToProto(const storage::SweepRow& row, v1::SweepStatus* status,
                  bool with_spec) {
  using storage::JobState;
  status->set_sweep_id(row.sweep_id);
  status->set_name(row.name);
  status->set_state(row.done() ? "DONE" : "RUNNING");
  status->set_total(row.total);
  status->set_queued(row.counts[static_cast<int>(JobState::kQueued)]);
  status->set_leased(row.counts[static_cast<int>(JobState::kLeased)]);
  status->set_succeeded(row.counts[static_cast<int>(JobState::kSucceeded)]);
  status->set_failed(row.counts[static_cast<int>(JobState::kFailed)]);
  status->set_cancelled(row.counts[static_cast<int>(JobState::kCancelled)]);
  status->set_created_ms(row.created_ms);
  status->set_cached(row.cached);
  status->set_owner(row.owner);
  status->set_awaiting_pretraining(
      row.counts[static_cast<int>(JobState::kWaiting)]);
  status->set_pretraining(row.pretraining);
  if (with_spec) status->mutable_spec()->ParseFromString(row.spec);
}

absl::Status ValidateResult(const v1::JobResult& result, int num_tasks) {
  if (result.accuracy_matrix_size() != num_tasks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "result.accuracy_matrix has ", result.accuracy_matrix_size(),
        " rows; the job has ", num_tasks, " tasks"));
  }
  for (int i = 0; i < num_tasks; ++i) {
    const auto& row = result.accuracy_matrix(i).accuracy();
    if (row.size() != num_tasks) {
      return absl::InvalidArgumentError(
          absl::StrCat("result.accuracy_matrix[", i, "] has ", row.size(),
                       " entries; the job has ", num_tasks, " tasks"));
    }
    for (int j = 0; j < num_tasks; ++j) {
      if (!IsAccuracy(row[j])) {
        return absl::InvalidArgumentError(
            absl::StrCat("result.accuracy_matrix[", i, "][", j, "] = ", row[j],
                         " is not an accuracy in [0, 1]"));
      }
    }
  }
  if (result.metrics_size() > kMaxResultMetrics) {
    return absl::InvalidArgumentError(
        absl::StrCat("result.metrics has ", result.metrics_size(),
                     " entries; at most ", kMaxResultMetrics));
  }
  if (result.curves_size() > kMaxCurvePoints) {
    return absl::InvalidArgumentError(
        absl::StrCat("result.curves has ", result.curves_size(),
                     " points; at most ", kMaxCurvePoints));
  }
  for (const auto& [field, value] :
       {std::pair<const char*, double>{"pretrain_seconds",
                                       result.pretrain_seconds()},
        {"finetune_seconds", result.finetune_seconds()},
        {"total_seconds", result.total_seconds()},
        {"samples_per_second", result.samples_per_second()}}) {
    if (!std::isfinite(value) || value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("result.", field, " = ", value,
                       " is not a finite, non-negative "
                       "number"));
    }
  }
  const v1::Provenance& p = result.provenance();
  for (const std::string* text :
       {&result.device(), &p.forgetlab_version(), &p.forgetlab_commit(),
        &p.torch_version(), &p.blas(), &p.device(), &p.host()}) {
    if (text->size() > kMaxProvenanceText) {
      return absl::InvalidArgumentError(
          absl::StrCat("result.device and result.provenance's strings must "
                       "be at most ",
                       kMaxProvenanceText, " bytes"));
    }
  }
  for (const auto& [name, value] : result.metrics()) {
    if (!std::isfinite(value) || name.empty() || name.size() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("result.metrics['", name, "'] is not a finite value"));
    }
  }
  for (int p = 0; p < result.curves_size(); ++p) {
    const v1::CurvePoint& point = result.curves(p);
    if (point.stage() < 0 || point.stage() >= num_tasks ||
        point.accuracy_size() != num_tasks) {
      return absl::InvalidArgumentError(
          absl::StrCat("result.curves[", p, "] does not match the job's ",
                       num_tasks, " tasks"));
    }
    for (double a : point.accuracy()) {
      if (!IsAccuracy(a)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "result.curves[", p, "] has accuracy ", a, " outside [0, 1]"));
      }
    }
    if (point.loss_size() != 0 && point.loss_size() != num_tasks) {
      return absl::InvalidArgumentError(
          absl::StrCat("result.curves[", p, "].loss does not match the job's ",
                       num_tasks, " tasks"));
    }
    for (double l : point.loss()) {
      if (!IsLoss(l)) {
        return absl::InvalidArgumentError(
            absl::StrCat("result.curves[", p, "] has loss ", l,
                         " that is not a finite, non-negative number of bits"));
      }
    }
    if ((point.has_pool_loss() && !IsLoss(point.pool_loss())) ||
        (point.has_pool_accuracy() && !IsAccuracy(point.pool_accuracy()))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "result.curves[", p, "] has a pool loss or accuracy out of range"));
    }
  }
  if (result.loss_matrix_size() != 0 &&
      result.loss_matrix_size() != num_tasks) {
    return absl::InvalidArgumentError(
        absl::StrCat("result.loss_matrix has ", result.loss_matrix_size(),
                     " rows; the job has ", num_tasks, " tasks"));
  }
  for (int i = 0; i < result.loss_matrix_size(); ++i) {
    const auto& row = result.loss_matrix(i).loss();
    if (row.size() != num_tasks) {
      return absl::InvalidArgumentError(
          absl::StrCat("result.loss_matrix[", i, "] has ", row.size(),
                       " entries; the job has ", num_tasks, " tasks"));
    }
    for (int j = 0; j < num_tasks; ++j) {
      if (!IsLoss(row[j])) {
        return absl::InvalidArgumentError(
            absl::StrCat("result.loss_matrix[", i, "][", j, "] = ", row[j],
                         " is not a finite, non-negative number of bits"));
      }
    }
  }
  if (p.data_sha256_size() > kMaxTextDomains) {
    return absl::InvalidArgumentError(
        absl::StrCat("result.provenance.data_sha256 has more than ",
                     kMaxTextDomains, " entries"));
  }
  for (const auto& [domain, digest] : p.data_sha256()) {
    if (domain.size() > 64 || digest.size() != 64) {
      return absl::InvalidArgumentError(
          "result.provenance.data_sha256 must map domain names to 64 hex "
          "digits");
    }
  }
  if (result.parameter_count() <= 0) {
    return absl::InvalidArgumentError(
        "result.parameter_count must be positive");
  }
  return absl::OkStatus();
}

storage::ResultRecord ResultRecordFromProto(const v1::JobResult& result) {
  storage::ResultRecord r;
  r.metrics.insert(result.metrics().begin(), result.metrics().end());
  for (const auto& row : result.accuracy_matrix()) {
    r.accuracy_matrix.emplace_back(row.accuracy().begin(),
                                   row.accuracy().end());
  }
  for (const auto& point : result.curves()) {
    for (int task = 0; task < point.accuracy_size(); ++task) {
      r.curves.push_back(
          {point.stage(), point.step(), task, point.accuracy(task)});
    }
  }
  r.parameter_count = result.parameter_count();
  r.device = result.device();
  r.total_seconds = result.total_seconds();
  r.blob = result.SerializeAsString();
  return r;
}

}  // namespace forgetlab
