// forgetlab.v1.ForgetlabService: what researchers call. Submitting,
// reading, watching, cancelling and retrying sweeps, tables and results.
#ifndef FORGETLAB_SERVER_CLIENT_SERVICE_H_
#define FORGETLAB_SERVER_CLIENT_SERVICE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "server/access_policy.h"
#include "storage/store.h"

namespace forgetlab {

class ArtifactFolder;
class LeaseDispatcher;
class WatchHub;

class ClientService final : public v1::ForgetlabService::CallbackService {
 public:
  struct Options {
    int max_jobs_per_sweep = 10000;
    // Folders that experiment data paths must lie in; empty accepts any
    // absolute path.
    std::vector<std::string> data_roots;
    // A worker silent this long is shown as lost.
    int64_t lease_ms = 60000;
    std::function<int64_t()> now_ms;
    // Per-owner quotas (storage::NewSweep); 0 turns one off.
    int64_t max_queued_jobs = 0;
    int max_sweeps_per_hour = 0;
    int64_t max_stored_bytes = 0;
  };

  // Every pointer must outlive the service; `artifacts` (whose files
  // InvalidateResults removes) may be null.
  ClientService(Options options, storage::Store* store,
                const AccessPolicy* policy, WatchHub* hub,
                LeaseDispatcher* dispatcher,
                ArtifactFolder* artifacts = nullptr);

  grpc::ServerUnaryReactor* SubmitSweep(
      grpc::CallbackServerContext* context,
      const v1::SubmitSweepRequest* request,
      v1::SubmitSweepResponse* response) override;
  grpc::ServerUnaryReactor* GetSweep(grpc::CallbackServerContext* context,
                                     const v1::GetSweepRequest* request,
                                     v1::SweepStatus* response) override;
  grpc::ServerUnaryReactor* ListSweeps(
      grpc::CallbackServerContext* context,
      const v1::ListSweepsRequest* request,
      v1::ListSweepsResponse* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerWriteReactor<v1::SweepEvent>* WatchSweep(
      grpc::CallbackServerContext* context,
      const v1::WatchSweepRequest* request) override;
  grpc::ServerUnaryReactor* CancelSweep(
      grpc::CallbackServerContext* context,
      const v1::CancelSweepRequest* request,
      v1::CancelSweepResponse* response) override;
  grpc::ServerUnaryReactor* RetrySweep(
      grpc::CallbackServerContext* context,
      const v1::RetrySweepRequest* request,
      v1::RetrySweepResponse* response) override;
  grpc::ServerUnaryReactor* ExtendSweep(
      grpc::CallbackServerContext* context,
      const v1::ExtendSweepRequest* request,
      v1::ExtendSweepResponse* response) override;
  grpc::ServerUnaryReactor* QueryTable(grpc::CallbackServerContext* context,
                                       const v1::QueryTableRequest* request,
                                       v1::Table* response) override;
  grpc::ServerUnaryReactor* ListResults(
      grpc::CallbackServerContext* context,
      const v1::ListResultsRequest* request,
      v1::ListResultsResponse* response) override;
  grpc::ServerUnaryReactor* ListWorkers(
      grpc::CallbackServerContext* context,
      const v1::ListWorkersRequest* request,
      v1::ListWorkersResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSweep(
      grpc::CallbackServerContext* context,
      const v1::DeleteSweepRequest* request,
      v1::DeleteSweepResponse* response) override;
  grpc::ServerUnaryReactor* InvalidateResults(
      grpc::CallbackServerContext* context,
      const v1::InvalidateResultsRequest* request,
      v1::InvalidateResultsResponse* response) override;

 private:
  absl::Status Submit(const v1::SweepSpec& spec, bool dry_run,
                      const Principal& who, v1::SubmitSweepResponse* response);
  absl::Status Extend(const v1::ExtendSweepRequest& request,
                      v1::ExtendSweepResponse* response);
  absl::Status ListJobsPage(const v1::ListJobsRequest& request,
                            v1::ListJobsResponse* response);
  absl::Status ListResultsPage(const v1::ListResultsRequest& request,
                               v1::ListResultsResponse* response);
  absl::Status ListAllWorkers(v1::ListWorkersResponse* response);
  // Why the queued jobs of a sweep with this (serialized) spec wait, or ""
  // (waiting.h).
  std::string Waiting(const std::string& sweep_spec);
  // Adds the waiting reason to a submit's warnings when `queued` jobs wait.
  void AddWaitingWarning(int queued, const std::string& sweep_spec,
                         v1::SubmitSweepResponse* response);
  // PERMISSION_DENIED unless `who` may change the sweep; NOT_FOUND for an
  // unknown one.
  absl::Status CheckSweepOwner(const Principal& who,
                               const std::string& sweep_id);

  const Options options_;
  storage::Store* const store_;
  const AccessPolicy* const policy_;
  WatchHub* const hub_;
  LeaseDispatcher* const dispatcher_;
  ArtifactFolder* const artifact_folder_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_CLIENT_SERVICE_H_
