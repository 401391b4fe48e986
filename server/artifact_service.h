// forgetlab.v1.ArtifactService: shared pretraining artifacts. The worker
// holding a pretraining job's lease uploads its weights (client streaming,
// checked against their SHA-256 on arrival, stored whole or not at all);
// a worker holding an experiment's lease downloads the weights it loads
// (server streaming, checked again as they are read). Researchers list
// artifacts; admins delete them.
#ifndef FORGETLAB_SERVER_ARTIFACT_SERVICE_H_
#define FORGETLAB_SERVER_ARTIFACT_SERVICE_H_

#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "server/access_policy.h"
#include "server/artifact_folder.h"
#include "storage/store.h"

namespace forgetlab {

class LeaseDispatcher;
class WatchHub;

class ArtifactService final : public v1::ArtifactService::CallbackService {
 public:
  // Bytes per message: an upload's messages may carry up to this much, and
  // a download's carry this much.
  static constexpr int kChunkBytes = 1 << 20;

  // Every pointer must outlive the service.
  ArtifactService(storage::Store* store, ArtifactFolder* folder,
                  const AccessPolicy* policy, WatchHub* hub,
                  LeaseDispatcher* dispatcher);

  grpc::ServerReadReactor<v1::UploadArtifactRequest>* UploadArtifact(
      grpc::CallbackServerContext* context,
      v1::UploadArtifactResponse* response) override;
  grpc::ServerWriteReactor<v1::DownloadArtifactResponse>* DownloadArtifact(
      grpc::CallbackServerContext* context,
      const v1::DownloadArtifactRequest* request) override;
  grpc::ServerUnaryReactor* ListArtifacts(
      grpc::CallbackServerContext* context,
      const v1::ListArtifactsRequest* request,
      v1::ListArtifactsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteArtifact(
      grpc::CallbackServerContext* context,
      const v1::DeleteArtifactRequest* request,
      v1::DeleteArtifactResponse* response) override;

 private:
  class Upload;
  class Download;

  // Tells watchers and waiting workers what an artifact change did.
  void Announce(const storage::ArtifactOutcome& outcome);

  storage::Store* const store_;
  ArtifactFolder* const folder_;
  const AccessPolicy* const policy_;
  WatchHub* const hub_;
  LeaseDispatcher* const dispatcher_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_ARTIFACT_SERVICE_H_
