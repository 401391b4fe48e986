// The server's artifact folder (--artifact_dir): the bytes of shared
// pretraining artifacts, one file per key, next to the database. The store
// says which exist; this keeps the folder in step with it, and within its
// quota by evicting what no live job needs, least recently used first.
#ifndef FORGETLAB_SERVER_ARTIFACT_FOLDER_H_
#define FORGETLAB_SERVER_ARTIFACT_FOLDER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store.h"

namespace forgetlab {

class ArtifactFolder {
 public:
  struct Options {
    std::string dir;
    // Largest artifact accepted, and all of them together.
    int64_t max_bytes = int64_t{1} << 30;
    int64_t quota_bytes = int64_t{20} << 30;
  };

  // Creates the folder (0700) and brings it in step with the store: upload
  // leftovers and files the store does not know are removed, and an artifact
  // whose file is missing or of the wrong size is lost (its pretraining runs
  // again). `store` must outlive the folder.
  static absl::StatusOr<std::unique_ptr<ArtifactFolder>> Open(
      Options options, storage::Store* store);

  // Whether `key` can name an artifact: 64 lowercase hex digits (a path
  // part that cannot leave the folder).
  static bool IsKey(const std::string& key);

  // dir/<key>.pt
  std::string PathOf(const std::string& key) const;
  // A new file name for an upload in progress (dir/upload-<random>.tmp).
  std::string NewUploadPath() const;
  // Frees room for `bytes` more: RESOURCE_EXHAUSTED, naming the flags, when
  // evicting every artifact no live job needs would not.
  absl::Status MakeRoom(int64_t bytes);
  // Removes an artifact's file (absent: nothing to do).
  void Remove(const std::string& key);

  const Options& options() const { return options_; }

 private:
  ArtifactFolder(Options options, storage::Store* store)
      : options_(std::move(options)), store_(store) {}
  absl::Status Reconcile();

  const Options options_;
  storage::Store* const store_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_ARTIFACT_FOLDER_H_
