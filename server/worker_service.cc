// The worker-facing service's handlers.
#include "server/worker_service.h"

#include <glog/logging.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/convert.h"
#include "server/grpc_status.h"
#include "server/lease_dispatcher.h"
#include "server/request_limits.h"
#include "server/server_metrics.h"
#include "server/watch_hub.h"

namespace forgetlab {
namespace {

constexpr int kMaxDatasets = 64;
constexpr size_t kMaxDatasetName = 64;
constexpr int kMaxHeldArtifacts = 256;

}  // namespace

WorkerService::WorkerService(Options options, storage::Store* store,
                             const AccessPolicy* policy, WatchHub* hub,
                             LeaseDispatcher* dispatcher,
                             ServerMetrics* metrics)
    : options_(options),
      store_(store),
      policy_(policy),
      hub_(hub),
      dispatcher_(dispatcher),
      metrics_(metrics) {}

grpc::ServerUnaryReactor* WorkerService::RegisterWorker(
    grpc::CallbackServerContext* context,
    const v1::RegisterWorkerRequest* request,
    v1::RegisterWorkerResponse* response) {
  return Unary(
      context, *request, *policy_, Access::kWorker,
      [&](const Principal& who) { return Register(*request, who, response); });
}

grpc::ServerUnaryReactor* WorkerService::LeaseJob(
    grpc::CallbackServerContext* context, const v1::LeaseJobRequest* request,
    v1::LeaseJobResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> who =
      policy_->Authorize(*context, *request, Access::kWorker);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  // Answered on the store's thread once the lease is committed; this thread
  // goes back to gRPC at once. A poll that finds nothing waits in the
  // dispatcher.
  if (request->artifacts_size() > kMaxHeldArtifacts) {
    reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("artifacts lists ", request->artifacts_size(),
                     " keys; at most ", kMaxHeldArtifacts))));
    return reactor;
  }
  store_->TouchAndLease(
      request->worker_id(), who->name, lease_ms(),
      {request->artifacts().begin(), request->artifacts().end()},
      [this, context, request, response, reactor,
       token = who->name](absl::StatusOr<storage::Store::LeaseAttempt> out) {
        if (!out.ok()) {
          reactor->Finish(ToGrpcStatus(out.status()));
        } else if (out->lease.has_value()) {
          DeliverLease(*out->lease, hub_, response);
          reactor->Finish(grpc::Status::OK);
        } else if (request->wait_seconds() <= 0) {
          reactor->Finish(grpc::Status::OK);
        } else {
          const int wait =
              std::min(request->wait_seconds(), options_.max_wait_seconds);
          const std::string& device = out->worker.device;
          const std::string capability =
              absl::StrCat(device.substr(0, device.find(':')), "|",
                           absl::StrJoin(out->worker.datasets, ","));
          dispatcher_->AddWaiter(
              {context, request->worker_id(), token, capability, response,
               reactor, absl::Now() + absl::Seconds(wait),
               std::vector<std::string>(request->artifacts().begin(),
                                        request->artifacts().end())});
        }
      });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Heartbeat(
    grpc::CallbackServerContext* context, const v1::HeartbeatRequest* request,
    v1::HeartbeatResponse* response) {
  return UnaryCall(
      context, *request, *policy_, Access::kWorker,
      [&](const Principal& who, FinishCall finish) {
        const v1::Progress& p = request->progress();
        store_->Heartbeat(
            request->job_id(),
            {request->worker_id(), who.name, request->lease_token()},
            TruncateUtf8(p.phase(), kMaxNameLength), p.step(), p.total_steps(),
            lease_ms(),
            [this, request, response, finish = std::move(finish)](
                absl::StatusOr<storage::HeartbeatOutcome> out) {
              if (out.ok()) {
                response->set_deadline_ms(out->deadline_ms);
                response->set_cancel(out->cancel);
                hub_->PublishJob(request->job_id());
              }
              finish(out.status());
            });
      });
}

grpc::ServerUnaryReactor* WorkerService::CompleteJob(
    grpc::CallbackServerContext* context, const v1::CompleteJobRequest* request,
    v1::CompleteJobResponse*) {
  return UnaryCall(context, *request, *policy_, Access::kWorker,
                   [&](const Principal& who, FinishCall finish) {
                     Complete(*request, who, std::move(finish));
                   });
}

grpc::ServerUnaryReactor* WorkerService::FailJob(
    grpc::CallbackServerContext* context, const v1::FailJobRequest* request,
    v1::FailJobResponse*) {
  return UnaryCall(context, *request, *policy_, Access::kWorker,
                   [&](const Principal& who, FinishCall finish) {
                     Fail(*request, who, std::move(finish));
                   });
}

absl::Status WorkerService::Register(const v1::RegisterWorkerRequest& request,
                                     const Principal& who,
                                     v1::RegisterWorkerResponse* response) {
  if (request.host().size() > kMaxNameLength ||
      request.device().size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        "host and device must be at most 256 characters");
  }
  if (request.datasets_size() > kMaxDatasets) {
    return absl::InvalidArgumentError("datasets lists more than 64 names");
  }
  for (const std::string& d : request.datasets()) {
    if (d.empty() || d.size() > kMaxDatasetName ||
        d.find(',') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("datasets: '", d, "' is not a dataset name"));
    }
  }
  absl::StatusOr<std::string> id = store_->RegisterWorker(
      request.host(), request.device(), request.threads(),
      {request.datasets().begin(), request.datasets().end()}, who.name,
      options_.max_workers_per_token);
  if (!id.ok()) return id.status();
  response->set_worker_id(*id);
  response->set_lease_seconds(options_.lease_seconds);
  LOG(INFO) << "worker " << *id << " registered from "
            << LogSafe(request.host()) << " (" << LogSafe(request.device())
            << ")" << (who.name.empty() ? "" : " with token ") << who.name;
  return absl::OkStatus();
}

void WorkerService::Complete(const v1::CompleteJobRequest& request,
                             const Principal& who, FinishCall finish) {
  const v1::CompleteJobRequest* r = &request;  // valid until `finish`
  // The provenance says which token produced the result, whatever the
  // worker wrote there.
  v1::JobResult result = request.result();
  result.mutable_provenance()->set_worker_token_name(who.name);
  store_->CompleteJob(
      request.job_id(), {request.worker_id(), who.name, request.lease_token()},
      ResultRecordFromProto(result),
      [r](const storage::JobRow& job) {
        v1::ExperimentSpec spec;
        spec.ParseFromString(job.spec);
        return ValidateResult(r->result(), spec.tasks_size());
      },
      [this, r, finish = std::move(finish)](absl::Status s) {
        if (s.ok()) {
          if (metrics_ != nullptr) metrics_->RecordResult();
          hub_->PublishJob(r->job_id());
        }
        finish(s);
      });
}

void WorkerService::Fail(const v1::FailJobRequest& request,
                         const Principal& who, FinishCall finish) {
  const v1::FailJobRequest* r = &request;  // valid until `finish`
  store_->FailJob(
      request.job_id(), {request.worker_id(), who.name, request.lease_token()},
      TruncateUtf8(request.error(), kMaxErrorLength), request.release(),
      [this, r, finish = std::move(finish)](absl::Status s) {
        if (s.ok()) {
          if (r->release()) {
            LOG(INFO) << "job " << r->job_id() << " released by "
                      << LogSafe(r->worker_id());
            dispatcher_->SignalWork();
          } else {
            LOG(INFO) << "job " << r->job_id()
                      << " failed: " << LogSafe(r->error(), kMaxErrorLength);
          }
          hub_->PublishJob(r->job_id());
        }
        finish(s);
      });
}

}  // namespace forgetlab
