// The artifact folder.
#include "server/artifact_folder.h"

#include <glog/logging.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <set>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace forgetlab {
namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<ArtifactFolder>> ArtifactFolder::Open(
    Options options, storage::Store* store) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec || !fs::is_directory(options.dir)) {
    return absl::UnavailableError(
        absl::StrCat("cannot create the artifact folder ", options.dir, " (",
                     ec.message(), "); pass a writable --artifact_dir"));
  }
  chmod(options.dir.c_str(), 0700);
  std::unique_ptr<ArtifactFolder> folder(
      new ArtifactFolder(std::move(options), store));
  if (absl::Status s = folder->Reconcile(); !s.ok()) return s;
  return folder;
}

bool ArtifactFolder::IsKey(const std::string& key) {
  if (key.size() != 64) return false;
  for (char c : key) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ArtifactFolder::PathOf(const std::string& key) const {
  return (fs::path(options_.dir) / (key + ".pt")).string();
}

std::string ArtifactFolder::NewUploadPath() const {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return (fs::path(options_.dir) /
          absl::StrCat("upload-", absl::Hex(rng(), absl::kZeroPad16), ".tmp"))
      .string();
}

absl::Status ArtifactFolder::Reconcile() {
  absl::StatusOr<std::vector<storage::ArtifactRow>> rows =
      store_->ListArtifacts();
  if (!rows.ok()) return rows.status();
  std::set<std::string> known;
  for (const storage::ArtifactRow& row : *rows) {
    std::error_code ec;
    const auto size = fs::file_size(PathOf(row.key), ec);
    if (ec || static_cast<int64_t>(size) != row.size_bytes) {
      LOG(WARNING) << "artifact " << row.key << " has "
                   << (ec ? "no file" : "a file of the wrong size")
                   << "; its pretraining runs again";
      absl::StatusOr<storage::ArtifactOutcome> lost =
          store_->LoseArtifact(row.key, 0, {}, "");
      if (!lost.ok()) return lost.status();
      Remove(row.key);
      continue;
    }
    known.insert(row.key + ".pt");
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool upload =
        absl::StartsWith(name, "upload-") && absl::EndsWith(name, ".tmp");
    const bool orphan = absl::EndsWith(name, ".pt") && known.count(name) == 0;
    if (upload || orphan) {
      LOG(INFO) << "removing " << (upload ? "an unfinished upload " : "")
                << entry.path().string()
                << (orphan ? " (no artifact of the database)" : "");
      fs::remove(entry.path(), ec);
    }
  }
  return absl::OkStatus();
}

absl::Status ArtifactFolder::MakeRoom(int64_t bytes) {
  if (bytes > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the artifact has ", bytes, " bytes, more than the server's limit of ",
        options_.max_bytes,
        " (--artifact_max_bytes); raise it, or turn sharing off for this "
        "sweep (share_pretraining: false)"));
  }
  absl::StatusOr<int64_t> total = store_->ArtifactBytes();
  if (!total.ok()) return total.status();
  int64_t stored = *total;
  if (stored + bytes <= options_.quota_bytes) return absl::OkStatus();
  absl::StatusOr<std::vector<storage::ArtifactRow>> evictable =
      store_->EvictableArtifacts();
  if (!evictable.ok()) return evictable.status();
  for (const storage::ArtifactRow& row : *evictable) {
    if (stored + bytes <= options_.quota_bytes) break;
    absl::StatusOr<bool> evicted = store_->EvictArtifact(row.key);
    if (!evicted.ok()) return evicted.status();
    if (!*evicted) continue;  // a job needs it again
    Remove(row.key);
    stored -= row.size_bytes;
    LOG(INFO) << "evicted artifact " << row.key << " (" << row.size_bytes
              << " bytes, last used at " << row.last_used_ms << ")";
  }
  if (stored + bytes <= options_.quota_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "the artifact folder holds ", stored,
      " bytes that queued jobs still "
      "need; ",
      bytes, " more would pass its quota of ", options_.quota_bytes,
      " (--artifact_quota_bytes); raise it, or let those jobs finish"));
}

void ArtifactFolder::Remove(const std::string& key) {
  std::error_code ec;
  fs::remove(PathOf(key), ec);
}

}  // namespace forgetlab
