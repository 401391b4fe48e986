// The worker's side of shared pretraining (DESIGN.md, "Shared pretraining"):
// a local cache of artifacts, files named by their key and checked against
// the server's SHA-256 before each use; the upload of a pretraining job's
// weights; and the download of the weights an experiment loads.
#ifndef FORGETLAB_WORKER_ARTIFACT_CLIENT_H_
#define FORGETLAB_WORKER_ARTIFACT_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"

namespace forgetlab {

class ArtifactClient {
 public:
  struct Options {
    // The local cache; created (0700) if missing.
    std::string cache_dir;
    // Bytes the cache may hold; beyond it the least recently used files go.
    int64_t cache_bytes = int64_t{10} << 30;
    // Bearer token for the calls ("" for none).
    std::string token;
    // Upload bandwidth cap, bytes per second (0: none), for a worker on a
    // shared link.
    int64_t upload_bytes_per_second = 0;
  };
  // What a lease needs to upload or download.
  struct LeaseRef {
    std::string worker_id;
    int64_t job_id = 0;
    std::string lease_token;
  };
  // The weights an experiment loads and what made them.
  struct Fetched {
    std::string path;
    std::string sha256;
    std::string device;
    int threads = 0;
    bool downloaded = false;  // false: the cache had them
  };

  ArtifactClient(Options options, std::shared_ptr<grpc::Channel> channel);

  // Creates the cache folder; an error names it and --artifact_cache_dir.
  absl::Status Init();

  // The keys in the cache, most recently used first (at most 256): what
  // LeaseJob is told, so that it prefers jobs that need them.
  std::vector<std::string> Held();

  // A new file in the cache folder for a pretraining job to write.
  std::string NewOutputPath();

  // Uploads `path` (weights pretrained on `device` with `threads`) as the
  // artifact of the pretraining job `lease`, and keeps it in the cache as
  // `key`. Errors are the server's (ABORTED: the lease is gone).
  absl::Status Upload(const LeaseRef& lease, const std::string& key,
                      const std::string& path, const std::string& device,
                      int threads);

  // The artifact `key` of the leased experiment: the cached copy when its
  // bytes have the server's SHA-256, else downloaded (and then cached).
  // FAILED_PRECONDITION (or another server error): the server has the job
  // wait for its pretraining again, or no longer leases it to us; drop it.
  // DATA_LOSS: the bytes received do not have the announced SHA-256.
  absl::StatusOr<Fetched> Fetch(const LeaseRef& lease, const std::string& key);

 private:
  std::string PathOf(const std::string& key) const;
  // Marks a cached file used, then trims the cache to its size (`keep`
  // stays).
  void Used(const std::string& key);

  const Options options_;
  std::unique_ptr<v1::ArtifactService::Stub> stub_;
  absl::Mutex mu_;  // orders cache trims and renames between slots
};

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_ARTIFACT_CLIENT_H_
