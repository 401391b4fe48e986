// forgetlab.v1.WorkerService: what workers call. Register, lease (a long
// poll), heartbeat, complete and fail, each answered after its write has
// committed, from the store's answering thread, so that no gRPC thread
// waits for SQLite.
#ifndef FORGETLAB_SERVER_WORKER_SERVICE_H_
#define FORGETLAB_SERVER_WORKER_SERVICE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "server/access_policy.h"
#include "server/unary_call.h"
#include "storage/store.h"

namespace forgetlab {

class LeaseDispatcher;
class ServerMetrics;
class WatchHub;

class WorkerService final : public v1::WorkerService::CallbackService {
 public:
  struct Options {
    // Lease length; heartbeats extend it by this much.
    int lease_seconds = 60;
    // Longest LeaseJob long poll.
    int max_wait_seconds = 60;
    // Registered workers per token (RESOURCE_EXHAUSTED beyond).
    int max_workers_per_token = 2000;
  };

  // Every pointer must outlive the service; `metrics` may be null.
  WorkerService(Options options, storage::Store* store,
                const AccessPolicy* policy, WatchHub* hub,
                LeaseDispatcher* dispatcher, ServerMetrics* metrics);

  grpc::ServerUnaryReactor* RegisterWorker(
      grpc::CallbackServerContext* context,
      const v1::RegisterWorkerRequest* request,
      v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* LeaseJob(grpc::CallbackServerContext* context,
                                     const v1::LeaseJobRequest* request,
                                     v1::LeaseJobResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* CompleteJob(grpc::CallbackServerContext* context,
                                        const v1::CompleteJobRequest* request,
                                        v1::CompleteJobResponse*) override;
  grpc::ServerUnaryReactor* FailJob(grpc::CallbackServerContext* context,
                                    const v1::FailJobRequest* request,
                                    v1::FailJobResponse*) override;

 private:
  absl::Status Register(const v1::RegisterWorkerRequest& request,
                        const Principal& who,
                        v1::RegisterWorkerResponse* response);
  // Stores the result once it checks out against the leased job's spec,
  // then calls `finish` (on the store's answering thread).
  void Complete(const v1::CompleteJobRequest& request, const Principal& who,
                FinishCall finish);
  void Fail(const v1::FailJobRequest& request, const Principal& who,
            FinishCall finish);
  int64_t lease_ms() const { return int64_t{options_.lease_seconds} * 1000; }

  const Options options_;
  storage::Store* const store_;
  const AccessPolicy* const policy_;
  WatchHub* const hub_;
  LeaseDispatcher* const dispatcher_;
  ServerMetrics* const metrics_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_WORKER_SERVICE_H_
