// The client-facing service's handlers.
#include "server/client_service.h"

#include <glog/logging.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/spec/cost.h"
#include "proto/spec/defaults.h"
#include "proto/spec/grid.h"
#include "proto/spec/lm_rules.h"
#include "proto/spec/spec_key.h"
#include "proto/spec/validate.h"
#include "server/artifact_folder.h"
#include "server/convert.h"
#include "server/lease_dispatcher.h"
#include "server/request_limits.h"
#include "server/sweep_extension.h"
#include "server/table_query.h"
#include "server/unary_call.h"
#include "server/waiting.h"
#include "server/watch_hub.h"

namespace forgetlab {
namespace {

// Jobs are queued largest first (estimated training FLOPs, stable), so that
// with several workers or slots a sweep does not end on one large job
// running alone while the rest of the machine idles.
void QueueLargestFirst(std::vector<ExpandedJob>* jobs) {
  std::vector<std::pair<double, size_t>> order;
  for (size_t i = 0; i < jobs->size(); ++i) {
    const v1::ExperimentSpec& spec = (*jobs)[i].spec;
    order.emplace_back(static_cast<double>(EstimateParameterCount(spec)) *
                           static_cast<double>(TrainingSamples(spec)),
                       i);
  }
  std::stable_sort(
      order.begin(), order.end(),
      [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<ExpandedJob> sorted;
  sorted.reserve(jobs->size());
  for (const auto& [cost, i] : order) sorted.push_back(std::move((*jobs)[i]));
  *jobs = std::move(sorted);
}

// A job as the store takes it; with `share`, its pretraining key, so that
// it may wait for a shared pretraining artifact (DESIGN.md, "Shared
// pretraining").
storage::NewJob NewJobOf(ExpandedJob& job, bool share) {
  std::string artifact_key = share ? PretrainingKey(job.spec) : "";
  std::string dataset = RequiredDatasets(job.spec);
  return storage::NewJob{std::move(job.canonical), std::move(job.spec_key),
                         std::move(job.axis_values), std::move(dataset),
                         std::move(artifact_key)};
}

constexpr int kMaxJobsPage = 10000;
constexpr int kDefaultJobsPage = 1000;
constexpr int kMaxResultsPage = 5000;
constexpr int kDefaultResultsPage = 500;
constexpr int kDefaultSweepsListed = 100;
constexpr int kMaxSweepsListed = 1000;

}  // namespace

ClientService::ClientService(Options options, storage::Store* store,
                             const AccessPolicy* policy, WatchHub* hub,
                             LeaseDispatcher* dispatcher,
                             ArtifactFolder* artifacts)
    : options_(std::move(options)),
      store_(store),
      policy_(policy),
      hub_(hub),
      dispatcher_(dispatcher),
      artifact_folder_(artifacts) {}

grpc::ServerUnaryReactor* ClientService::SubmitSweep(
    grpc::CallbackServerContext* context, const v1::SubmitSweepRequest* request,
    v1::SubmitSweepResponse* response) {
  return Unary(
      context, *request, *policy_, Access::kSubmit, [&](const Principal& who) {
        return Submit(request->sweep(), request->dry_run(), who, response);
      });
}

grpc::ServerUnaryReactor* ClientService::GetSweep(
    grpc::CallbackServerContext* context, const v1::GetSweepRequest* request,
    v1::SweepStatus* response) {
  return Unary(context, *request, *policy_, Access::kRead,
               [&](const Principal&) {
                 absl::StatusOr<storage::SweepRow> row =
                     store_->GetSweep(request->sweep_id());
                 if (!row.ok()) return row.status();
                 SweepToProto(*row, response);
                 if (response->queued() > 0)
                   response->set_waiting(Waiting(row->spec));
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ClientService::ListSweeps(
    grpc::CallbackServerContext* context, const v1::ListSweepsRequest* request,
    v1::ListSweepsResponse* response) {
  return Unary(
      context, *request, *policy_, Access::kRead, [&](const Principal&) {
        const int limit = request->limit() <= 0
                              ? kDefaultSweepsListed
                              : std::min(request->limit(), kMaxSweepsListed);
        if (request->page_token().size() > 64) {
          return absl::InvalidArgumentError(
              "page_token is not one we gave out");
        }
        std::string next;
        absl::StatusOr<std::vector<storage::SweepRow>> rows =
            store_->ListSweeps(limit, request->page_token(), &next);
        response->set_next_page_token(next);
        if (rows.ok()) {
          for (const auto& row : *rows) {
            SweepToProto(row, response->add_sweeps(), /*with_spec=*/false);
          }
        }
        return rows.status();
      });
}

grpc::ServerUnaryReactor* ClientService::ListJobs(
    grpc::CallbackServerContext* context, const v1::ListJobsRequest* request,
    v1::ListJobsResponse* response) {
  return Unary(
      context, *request, *policy_, Access::kRead,
      [&](const Principal&) { return ListJobsPage(*request, response); });
}

grpc::ServerWriteReactor<v1::SweepEvent>* ClientService::WatchSweep(
    grpc::CallbackServerContext* context,
    const v1::WatchSweepRequest* request) {
  absl::StatusOr<Principal> who =
      policy_->Authorize(*context, *request, Access::kRead);
  if (!who.ok()) return WatchHub::Refuse(who.status());
  // Only whether the sweep exists: its job counts would cost a scan.
  absl::StatusOr<std::string> exists =
      store_->GetSweepSpec(request->sweep_id());
  if (!exists.ok()) return WatchHub::Refuse(exists.status());
  return hub_->Watch(request->sweep_id());
}

grpc::ServerUnaryReactor* ClientService::CancelSweep(
    grpc::CallbackServerContext* context, const v1::CancelSweepRequest* request,
    v1::CancelSweepResponse* response) {
  return Unary(
      context, *request, *policy_, Access::kSubmit,
      [&](const Principal& who) -> absl::Status {
        const std::string& id = request->sweep_id();
        if (absl::Status s = CheckSweepOwner(who, id); !s.ok()) return s;
        absl::StatusOr<storage::CancelOutcome> out = store_->CancelSweep(
            id, {request->job_ids().begin(), request->job_ids().end()});
        if (!out.ok()) return out.status();
        response->set_cancelled(out->cancelled);
        response->set_stopping(out->stopping);
        LOG(INFO) << "sweep " << id << " cancelled: " << out->cancelled
                  << " queued, " << out->stopping << " leased";
        hub_->Publish(id);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ClientService::RetrySweep(
    grpc::CallbackServerContext* context, const v1::RetrySweepRequest* request,
    v1::RetrySweepResponse* response) {
  return Unary(context, *request, *policy_, Access::kSubmit,
               [&](const Principal& who) -> absl::Status {
                 const std::string& id = request->sweep_id();
                 if (absl::Status s = CheckSweepOwner(who, id); !s.ok()) {
                   return s;
                 }
                 absl::StatusOr<int> requeued = store_->RetrySweep(id);
                 if (!requeued.ok()) return requeued.status();
                 response->set_requeued(*requeued);
                 LOG(INFO) << "sweep " << id << ": " << *requeued
                           << " job(s) queued again";
                 hub_->Publish(id);
                 dispatcher_->SignalWork();
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ClientService::ExtendSweep(
    grpc::CallbackServerContext* context, const v1::ExtendSweepRequest* request,
    v1::ExtendSweepResponse* response) {
  return Unary(context, *request, *policy_, Access::kSubmit,
               [&](const Principal& who) -> absl::Status {
                 if (absl::Status s = CheckSweepOwner(who, request->sweep_id());
                     !s.ok()) {
                   return s;
                 }
                 return Extend(*request, response);
               });
}

grpc::ServerUnaryReactor* ClientService::QueryTable(
    grpc::CallbackServerContext* context, const v1::QueryTableRequest* request,
    v1::Table* response) {
  return Unary(context, *request, *policy_, Access::kRead,
               [&](const Principal&) {
                 return forgetlab::QueryTable(*store_, *request, response);
               });
}

grpc::ServerUnaryReactor* ClientService::ListResults(
    grpc::CallbackServerContext* context, const v1::ListResultsRequest* request,
    v1::ListResultsResponse* response) {
  return Unary(
      context, *request, *policy_, Access::kRead,
      [&](const Principal&) { return ListResultsPage(*request, response); });
}

grpc::ServerUnaryReactor* ClientService::ListWorkers(
    grpc::CallbackServerContext* context, const v1::ListWorkersRequest* request,
    v1::ListWorkersResponse* response) {
  return Unary(context, *request, *policy_, Access::kRead,
               [&](const Principal&) { return ListAllWorkers(response); });
}

grpc::ServerUnaryReactor* ClientService::DeleteSweep(
    grpc::CallbackServerContext* context, const v1::DeleteSweepRequest* request,
    v1::DeleteSweepResponse* response) {
  return Unary(context, *request, *policy_, Access::kSubmit,
               [&](const Principal& who) -> absl::Status {
                 const std::string& id = request->sweep_id();
                 if (absl::Status s = CheckSweepOwner(who, id); !s.ok())
                   return s;
                 absl::StatusOr<storage::Store::Deletion> out =
                     store_->DeleteSweep(id);
                 if (!out.ok()) return out.status();
                 response->set_jobs(out->jobs);
                 response->set_results(out->results);
                 LOG(INFO) << "sweep " << LogSafe(id) << " deleted by '"
                           << who.name << "': " << out->jobs << " jobs, "
                           << out->results << " results";
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ClientService::InvalidateResults(
    grpc::CallbackServerContext* context,
    const v1::InvalidateResultsRequest* request,
    v1::InvalidateResultsResponse* response) {
  return Unary(
      context, *request, *policy_, Access::kAdmin, [&](const Principal& who) {
        if (request->worker_token_name().empty() ||
            request->worker_token_name().size() > kMaxNameLength) {
          return absl::InvalidArgumentError(
              absl::StrCat("worker_token_name: name the worker token (1 to ",
                           kMaxNameLength, " characters)"));
        }
        absl::StatusOr<storage::Store::Invalidation> out =
            store_->InvalidateResults(request->worker_token_name());
        if (!out.ok()) return out.status();
        response->set_invalidated(out->results);
        response->set_artifacts(static_cast<int>(out->artifact_keys.size()));
        for (const std::string& key : out->artifact_keys) {
          if (artifact_folder_ != nullptr) artifact_folder_->Remove(key);
        }
        for (const std::string& id : out->sweep_ids) {
          response->add_sweep_ids(id);
          hub_->Publish(id);
        }
        if (out->results > 0 || !out->artifact_keys.empty()) {
          dispatcher_->SignalWork();
        }
        LOG(WARNING) << "admin '" << who.name << "' invalidated "
                     << out->results << " result(s) of worker token '"
                     << LogSafe(request->worker_token_name()) << "' in "
                     << out->sweep_ids.size() << " sweep(s)";
        return absl::OkStatus();
      });
}

absl::Status ClientService::Submit(const v1::SweepSpec& spec, bool dry_run,
                                   const Principal& who,
                                   v1::SubmitSweepResponse* response) {
  if (spec.name().size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sweep.name is longer than ", kMaxNameLength, " characters"));
  }
  if (spec.request_id().size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sweep.request_id is longer than ", kMaxNameLength, " characters"));
  }
  if (!spec.device_kind().empty() && spec.device_kind() != "cpu" &&
      spec.device_kind() != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat(
        "sweep.device_kind must be \"\", \"cpu\" or \"cuda\" (got \"",
        spec.device_kind(), "\")"));
  }
  absl::StatusOr<std::vector<ExpandedJob>> jobs =
      ExpandSweep(spec, options_.max_jobs_per_sweep);
  if (!jobs.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep.", jobs.status().message()));
  }
  // Every job shares the base's data; only numeric fields vary.
  if (!jobs->empty() && !jobs->front().spec.data().path().empty()) {
    absl::Status s =
        CheckDataPath(jobs->front().spec.data().path(), options_.data_roots);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("sweep.base.", s.message()));
    }
  }
  if (dry_run) {
    std::vector<std::pair<std::string, std::string>> keys;
    for (const ExpandedJob& job : *jobs) {
      keys.emplace_back(job.spec_key, job.canonical);
      v1::Job* planned = response->add_planned_jobs();
      planned->set_index(response->planned_jobs_size() - 1);
      *planned->mutable_spec() = job.spec;
      planned->set_spec_key(job.spec_key);
      planned->mutable_axis_values()->insert(job.axis_values.begin(),
                                             job.axis_values.end());
    }
    absl::StatusOr<int> cached =
        spec.rerun() ? absl::StatusOr<int>(0) : store_->CountCached(keys);
    if (!cached.ok()) return cached.status();
    response->set_jobs(static_cast<int>(jobs->size()));
    response->set_cached(*cached);
    AddWaitingWarning(response->jobs() - *cached, spec.SerializeAsString(),
                      response);
    return absl::OkStatus();
  }
  storage::NewSweep sweep;
  sweep.max_queued_jobs = options_.max_queued_jobs;
  sweep.max_sweeps_per_hour = options_.max_sweeps_per_hour;
  sweep.max_stored_bytes = options_.max_stored_bytes;
  sweep.name = spec.name();
  sweep.spec = spec.SerializeAsString();
  // Request ids are per owner, so one user cannot fetch another's sweep by
  // guessing an id.
  sweep.request_id = spec.request_id().empty() || who.name.empty()
                         ? spec.request_id()
                         : absl::StrCat(who.name, "/", spec.request_id());
  sweep.owner = who.name;
  sweep.priority = spec.priority();
  sweep.max_attempts =
      spec.has_max_attempts() ? spec.max_attempts() : kDefaultMaxAttempts;
  sweep.device_kind = spec.device_kind();
  sweep.use_cache = !spec.rerun();
  sweep.jobs.reserve(jobs->size());
  QueueLargestFirst(&*jobs);
  const bool share = !spec.has_share_pretraining() || spec.share_pretraining();
  for (ExpandedJob& job : *jobs) {
    sweep.jobs.push_back(NewJobOf(job, share));
  }
  bool existing = false;
  absl::StatusOr<std::string> id = store_->CreateSweep(sweep, &existing);
  if (!id.ok()) return id.status();
  response->set_sweep_id(*id);
  response->set_existing(existing);
  response->set_jobs(static_cast<int>(sweep.jobs.size()));
  absl::StatusOr<storage::SweepRow> stored = store_->GetSweep(*id);
  if (stored.ok()) {
    response->set_cached(stored->cached);
    response->set_pretraining(stored->pretraining);
    AddWaitingWarning(
        stored->counts[static_cast<int>(storage::JobState::kQueued)],
        stored->spec, response);
  }
  if (!existing) {
    LOG(INFO) << "sweep " << *id << " '" << LogSafe(spec.name())
              << "': " << sweep.jobs.size() << " jobs queued"
              << (stored.ok() && stored->pretraining > 0
                      ? absl::StrCat(", ", stored->pretraining,
                                     " shared pretraining job(s)")
                      : std::string());
    dispatcher_->SignalWork();
  }
  return absl::OkStatus();
}

absl::Status ClientService::Extend(const v1::ExtendSweepRequest& request,
                                   v1::ExtendSweepResponse* response) {
  const std::string& id = request.sweep_id();
  absl::StatusOr<storage::SweepRow> before = store_->GetSweep(id);
  if (!before.ok()) return before.status();
  v1::SweepSpec stored;
  if (!stored.ParseFromString(before->spec)) {
    return absl::InternalError(
        absl::StrCat("sweep ", id, ": its stored spec does not parse"));
  }
  absl::StatusOr<ExtensionPlan> plan =
      PlanExtension(stored, request, options_.max_jobs_per_sweep);
  if (!plan.ok()) {
    return absl::Status(plan.status().code(),
                        absl::StrCat("extend: ", plan.status().message()));
  }
  storage::NewSweep growth;
  growth.max_queued_jobs = options_.max_queued_jobs;
  growth.max_stored_bytes = options_.max_stored_bytes;
  growth.owner = before->owner;  // the quotas are the owner's
  growth.priority = stored.priority();
  growth.max_attempts =
      stored.has_max_attempts() ? stored.max_attempts() : kDefaultMaxAttempts;
  growth.device_kind = stored.device_kind();
  growth.use_cache = !stored.rerun();
  if (plan->spec_changed) growth.spec = plan->spec.SerializeAsString();
  QueueLargestFirst(&plan->jobs);
  const bool share =
      !stored.has_share_pretraining() || stored.share_pretraining();
  for (ExpandedJob& job : plan->jobs) {
    growth.jobs.push_back(NewJobOf(job, share));
  }
  absl::StatusOr<storage::Extension> out =
      store_->ExtendSweep(id, growth, plan->new_axes, request.dry_run());
  if (!out.ok()) return out.status();
  response->set_added(out->added);
  response->set_cached(out->cached);
  response->set_present(out->present);
  response->set_jobs(out->total);
  if (!request.dry_run() && out->added > 0) {
    LOG(INFO) << "sweep " << id << " extended: " << out->added
              << " job(s) added, " << out->cached << " from the cache";
    hub_->Publish(id);
    dispatcher_->SignalWork();
  }
  return absl::OkStatus();
}

absl::Status ClientService::ListJobsPage(const v1::ListJobsRequest& request,
                                         v1::ListJobsResponse* response) {
  if (request.page_size() < 0 || request.page_size() > kMaxJobsPage) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be between 0 and ", kMaxJobsPage));
  }
  // Only whether the sweep exists: its job counts would cost a scan.
  absl::StatusOr<std::string> sweep = store_->GetSweepSpec(request.sweep_id());
  if (!sweep.ok()) return sweep.status();
  const int page =
      request.page_size() == 0 ? kDefaultJobsPage : request.page_size();
  std::optional<storage::JobState> state;
  if (request.state() != v1::JOB_STATE_UNSPECIFIED) {
    state = static_cast<storage::JobState>(request.state());
  }
  absl::StatusOr<std::vector<storage::JobRow>> rows =
      store_->ListJobs(request.sweep_id(), state, request.after_job_id(), page);
  if (!rows.ok()) return rows.status();
  bool queued = false;
  for (const auto& row : *rows) {
    JobToProto(row, response->add_jobs());
    queued = queued || row.state == storage::JobState::kQueued;
  }
  if (queued) response->set_waiting(Waiting(*sweep));
  if (static_cast<int>(rows->size()) == page) {
    response->set_next_after_job_id(rows->back().job_id);
  }
  return absl::OkStatus();
}

absl::Status ClientService::ListResultsPage(
    const v1::ListResultsRequest& request, v1::ListResultsResponse* response) {
  if (request.page_size() < 0 || request.page_size() > kMaxResultsPage) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be between 0 and ", kMaxResultsPage));
  }
  absl::StatusOr<std::string> sweep = store_->GetSweepSpec(request.sweep_id());
  if (!sweep.ok()) return sweep.status();
  const int page =
      request.page_size() == 0 ? kDefaultResultsPage : request.page_size();
  absl::StatusOr<std::vector<storage::ResultRow>> rows =
      store_->ListResults(request.sweep_id(), request.after_job_id(), page);
  if (!rows.ok()) return rows.status();
  for (const auto& row : *rows) {
    v1::JobResultEntry* entry = response->add_results();
    entry->set_job_id(row.job_id);
    entry->mutable_axis_values()->insert(row.axis_values.begin(),
                                         row.axis_values.end());
    entry->mutable_result()->ParseFromString(row.blob);
  }
  if (static_cast<int>(rows->size()) == page) {
    response->set_next_after_job_id(rows->back().job_id);
  }
  return absl::OkStatus();
}

absl::Status ClientService::ListAllWorkers(v1::ListWorkersResponse* response) {
  absl::StatusOr<std::vector<storage::WorkerRow>> rows = store_->ListWorkers();
  if (!rows.ok()) return rows.status();
  const int64_t now = options_.now_ms();
  for (const auto& row : *rows) {
    v1::WorkerInfo* w = response->add_workers();
    w->set_worker_id(row.worker_id);
    w->set_host(row.host);
    w->set_device(row.device);
    w->set_current_job_id(row.current_job_id);
    w->set_last_seen_ms(row.last_seen_ms);
    w->set_lost(now - row.last_seen_ms > options_.lease_ms);
    for (const std::string& d : row.datasets) w->add_datasets(d);
    w->set_threads(row.threads);
  }
  return absl::OkStatus();
}

std::string ClientService::Waiting(const std::string& sweep_spec) {
  v1::SweepSpec spec;
  if (!spec.ParseFromString(sweep_spec)) return "";
  absl::StatusOr<std::vector<storage::WorkerRow>> workers =
      store_->ListWorkers();
  if (!workers.ok()) return "";
  return WaitingReason(RequiredDatasets(ResolveDefaults(spec.base())),
                       spec.device_kind(), *workers, options_.now_ms(),
                       options_.lease_ms);
}

void ClientService::AddWaitingWarning(int queued, const std::string& sweep_spec,
                                      v1::SubmitSweepResponse* response) {
  if (queued <= 0) return;
  const std::string waiting = Waiting(sweep_spec);
  if (waiting.empty()) return;
  response->add_warnings(
      absl::StrCat(queued, " job(s) will wait: ", waiting,
                   " (`forgetlab workers` lists what each worker offers)"));
}

absl::Status ClientService::CheckSweepOwner(const Principal& who,
                                            const std::string& sweep_id) {
  if (who.role == Role::kAdmin) return absl::OkStatus();
  absl::StatusOr<storage::SweepRow> row = store_->GetSweep(sweep_id);
  if (!row.ok()) return row.status();
  return CheckOwner(who, row->owner, sweep_id);
}

}  // namespace forgetlab
