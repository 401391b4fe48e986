// The worker's metrics (/metrics) and gRPC health service, and the job and
// slot series behind them.
#include <glog/logging.h>

#include <string>
#include <utility>
#include <vector>

#include "worker/worker_impl.h"

namespace forgetlab {

// The job outcomes forgetlab_worker_jobs_total counts.
constexpr const char* kOutcomes[] = {"succeeded", "failed", "cancelled",
                                     "released", "lost"};

void Worker::Impl::SetCurrentJob(Slot& slot, const std::string& sweep_id,
                                 const std::string& job_id) {
  {
    absl::MutexLock lock(&mu_);
    slot.sweep_id = sweep_id;
    slot.job_id = job_id;
  }
  PublishCurrentJobs();
}

void Worker::Impl::PublishCurrentJobs() {
  std::vector<std::pair<metrics::Labels, double>> series;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& s : slots_) {
      if (s->job_id.empty()) continue;
      series.push_back({{{"slot", std::to_string(s->index)},
                         {"sweep_id", s->sweep_id},
                         {"job_id", s->job_id}},
                        1});
    }
  }
  if (series.empty()) series.push_back({{{"sweep_id", ""}, {"job_id", ""}}, 0});
  metrics_.SetInfoSeries(
      "forgetlab_worker_current_job",
      "1 with the slot, sweep and job of each job this worker trains; one "
      "series, 0 with empty labels, while idle.",
      series);
}

metrics::Counter* Worker::Impl::JobsCounter(const std::string& outcome) {
  return metrics_.GetCounter(
      "forgetlab_worker_jobs_total",
      "Jobs this worker ended, by outcome (succeeded, failed, cancelled by "
      "the user, released on shutdown, lost lease).",
      {{"outcome", outcome}});
}

void Worker::Impl::CountJob(Slot& slot, const std::string& outcome,
                            const absl::StatusOr<v1::JobResult>& result) {
  JobsCounter(outcome)->Add();
  if (result.ok()) {
    samples_total_->Add(
        result->samples_per_second() *
        (result->pretrain_seconds() + result->finetune_seconds()));
    job_seconds_total_->Add(result->total_seconds());
    samples_per_second_->Set(result->samples_per_second());
  }
  SetCurrentJob(slot, "", "");
  absl::MutexLock lock(&mu_);
  slot.progress = train::Progress{};
}

absl::Status Worker::Impl::StartEndpoints() {
  // Every series exists from the start, at 0, so dashboards and rate() see
  // the first job.
  for (const char* outcome : kOutcomes) JobsCounter(outcome);
  PublishCurrentJobs();
  samples_total_ =
      metrics_.GetCounter("forgetlab_worker_samples_total",
                          "Training samples of the jobs this worker finished.");
  job_seconds_total_ =
      metrics_.GetCounter("forgetlab_worker_job_seconds_total",
                          "Wall time of the jobs this worker finished.");
  samples_per_second_ = metrics_.GetGauge(
      "forgetlab_worker_samples_per_second",
      "Training throughput (samples/s) of the last job this worker finished.");
  if (!options_.metrics_listen.empty()) {
    metrics_.SetInfo(
        "forgetlab_worker_info",
        "This worker's device, slots, threads per job (0: picked per job) "
        "and host.",
        {{"device", options_.device},
         {"slots", std::to_string(plan_.slots)},
         {"threads", std::to_string(plan_.threads)},
         {"host", options_.host}});
    metrics::Gauge* busy = metrics_.GetGauge(
        "forgetlab_worker_busy", "Slots training a job now (0 when idle).");
    metrics::Gauge* connected = metrics_.GetGauge(
        "forgetlab_worker_connected",
        "1 while the scheduler answers this worker's calls, else 0.");
    std::vector<metrics::Gauge*> progress;
    for (const auto& slot : slots_) {
      progress.push_back(metrics_.GetGauge(
          "forgetlab_worker_current_job_progress",
          "Steps done over total steps of each slot's job (0 when idle).",
          {{"slot", std::to_string(slot->index)}}));
    }
    metrics::Gauge* limit = metrics_.GetGauge(
        "forgetlab_worker_jobs_at_once_limit",
        "The jobs this worker may run at once now: its slots, or on a GPU "
        "with --slots=auto the count its throughput measurements chose.");
    metrics_.AddCollector([this, progress, busy, connected, limit] {
      connected->Set(connected_.load() ? 1 : 0);
      limit->Set(occupancy_ != nullptr ? occupancy_->limit() : plan_.slots);
      absl::MutexLock lock(&mu_);
      int training = 0;
      for (size_t i = 0; i < slots_.size(); ++i) {
        const train::Progress& p = slots_[i]->progress;
        training += p.phase.empty() ? 0 : 1;
        progress[i]->Set(p.total_steps > 0
                             ? static_cast<double>(p.step) /
                                   static_cast<double>(p.total_steps)
                             : 0);
      }
      busy->Set(training);
    });
    absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> server =
        metrics::MetricsServer::Start(options_.metrics_listen, &metrics_);
    if (!server.ok()) return server.status();
    metrics_server_ = *std::move(server);
    metrics_port_ = metrics_server_->port();
    LOG(INFO) << "metrics on port " << metrics_port_ << " at /metrics";
  }
  if (!options_.health_listen.empty()) {
    int port = 0;
    absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartHealthServer(
        options_.health_listen, "--health_listen", &health_, &port);
    if (!server.ok()) return server.status();
    health_server_ = *std::move(server);
    health_port_ = port;
    LOG(INFO) << "gRPC health service on port " << port;
  }
  return absl::OkStatus();
}

}  // namespace forgetlab
