// The artifact service: upload and download reactors, listing and deletion.
#include "server/artifact_service.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "proto/net/sha256.h"
#include "server/grpc_status.h"
#include "server/lease_dispatcher.h"
#include "server/request_limits.h"
#include "server/unary_call.h"
#include "server/watch_hub.h"

namespace forgetlab {
namespace {

bool IsSha256(const std::string& hex) { return ArtifactFolder::IsKey(hex); }

storage::LeaseCredentials Credentials(const std::string& worker_id,
                                      const Principal& who,
                                      const std::string& lease_token) {
  return {worker_id, who.name, lease_token};
}

// fsync of a file, or of the folder that a rename changed.
bool SyncPath(const std::string& path, bool folder) {
  const int fd = open(path.c_str(), (folder ? O_DIRECTORY : 0) | O_RDONLY);
  if (fd < 0) return false;
  const bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

}  // namespace

ArtifactService::ArtifactService(storage::Store* store, ArtifactFolder* folder,
                                 const AccessPolicy* policy, WatchHub* hub,
                                 LeaseDispatcher* dispatcher)
    : store_(store),
      folder_(folder),
      policy_(policy),
      hub_(hub),
      dispatcher_(dispatcher) {}

void ArtifactService::Announce(const storage::ArtifactOutcome& outcome) {
  for (const std::string& sweep_id : outcome.sweep_ids) hub_->Publish(sweep_id);
  dispatcher_->SignalWork();
}

// ---------------------------------------------------------------------------
// Upload: the first message names the lease, the hash and the size; the
// bytes go to a file of their own, which becomes the artifact only once the
// size and the hash check out and the store has recorded it.
// ---------------------------------------------------------------------------

class ArtifactService::Upload
    : public grpc::ServerReadReactor<v1::UploadArtifactRequest> {
 public:
  Upload(ArtifactService* service, grpc::CallbackServerContext* context,
         v1::UploadArtifactResponse* response)
      : service_(service), context_(context), response_(response) {
    // The token is in the call's metadata: a caller without the role is
    // turned away before it can hold the stream open.
    absl::StatusOr<Principal> who = service_->policy_->Authorize(
        *context_, v1::UploadArtifactRequest(), Access::kWorker);
    if (!who.ok()) {
      Finish(ToGrpcStatus(who.status()));
      return;
    }
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    absl::Status s = !ok ? Commit() : header_.has_value() ? Append() : Begin();
    if (!s.ok() || !ok) {
      Finish(ToGrpcStatus(s));
      return;
    }
    message_.Clear();
    StartRead(&message_);
  }

  void OnDone() override {
    if (out_.is_open()) out_.close();
    if (!path_.empty() && !committed_) std::remove(path_.c_str());
    delete this;
  }

 private:
  absl::Status Begin() {
    absl::StatusOr<Principal> who =
        service_->policy_->Authorize(*context_, message_, Access::kWorker);
    if (!who.ok()) return who.status();
    if (!IsSha256(message_.sha256())) {
      return absl::InvalidArgumentError(
          "sha256 must be 64 lowercase hex digits (the first message of an "
          "upload names the file's SHA-256)");
    }
    if (message_.size_bytes() <= 0) {
      return absl::InvalidArgumentError("size_bytes must be positive");
    }
    if (message_.size_bytes() > service_->folder_->options().max_bytes) {
      return service_->folder_->MakeRoom(message_.size_bytes());  // names it
    }
    if (message_.device().size() > kMaxNameLength) {
      return absl::InvalidArgumentError("device is longer than 256 bytes");
    }
    who_ = *who;
    absl::StatusOr<storage::JobRow> job = service_->store_->PretrainingToUpload(
        message_.job_id(),
        Credentials(message_.worker_id(), who_, message_.lease_token()));
    if (!job.ok()) return job.status();
    header_ = message_;
    header_->clear_data();
    key_ = job->artifact_key;
    path_ = service_->folder_->NewUploadPath();
    out_.open(path_, std::ios::binary | std::ios::trunc);
    if (!out_) {
      return absl::UnavailableError(
          absl::StrCat("the server cannot write ", path_));
    }
    return Append();
  }

  absl::Status Append() {
    const std::string& data = message_.data();
    if (static_cast<int>(data.size()) > kChunkBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "an upload message carries at most ", kChunkBytes, " bytes"));
    }
    received_ += static_cast<int64_t>(data.size());
    if (received_ > header_->size_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the upload passed its size_bytes of ", header_->size_bytes()));
    }
    hash_.Update(data);
    out_.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out_) {
      return absl::UnavailableError(absl::StrCat("the server cannot write ",
                                                 path_, "; is its disk full?"));
    }
    return absl::OkStatus();
  }

  absl::Status Commit() {
    if (!header_.has_value()) {
      return absl::InvalidArgumentError("an upload needs at least one message");
    }
    if (received_ != header_->size_bytes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the upload ended after ", received_, " of ",
                       header_->size_bytes(), " bytes; nothing was stored"));
    }
    const std::string sha = hash_.HexDigest();
    if (sha != header_->sha256()) {
      return absl::DataLossError(absl::StrCat(
          "the bytes received have SHA-256 ", sha, ", not the ",
          header_->sha256(), " announced; nothing was stored, upload again"));
    }
    out_.flush();
    out_.close();
    if (!SyncPath(path_, false)) {
      return absl::UnavailableError(absl::StrCat("cannot sync ", path_));
    }
    // An artifact of the key stored meanwhile (two experiments that each
    // pretrained it) keeps its file.
    absl::StatusOr<std::optional<storage::ArtifactRow>> stored =
        service_->store_->GetArtifact(key_);
    if (!stored.ok()) return stored.status();
    if (stored->has_value()) {
      return absl::AlreadyExistsError(absl::StrCat("the pretraining artifact ",
                                                   key_, " is stored already"));
    }
    if (absl::Status s = service_->folder_->MakeRoom(received_); !s.ok()) {
      return s;
    }
    const std::string final_path = service_->folder_->PathOf(key_);
    if (std::rename(path_.c_str(), final_path.c_str()) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot rename ", path_, " to ", final_path));
    }
    path_ = final_path;  // removed in OnDone unless recorded
    SyncPath(std::filesystem::path(final_path).parent_path().string(), true);
    storage::ArtifactRow row;
    row.sha256 = sha;
    row.size_bytes = received_;
    row.device = header_->device();
    row.threads = header_->threads();
    absl::StatusOr<storage::ArtifactOutcome> out =
        service_->store_->StoreArtifact(
            header_->job_id(),
            Credentials(header_->worker_id(), who_, header_->lease_token()),
            row);
    if (!out.ok()) {
      // Another upload of the key may have made it meanwhile: keep its file.
      stored = service_->store_->GetArtifact(key_);
      if (stored.ok() && stored->has_value()) committed_ = true;
      return out.status();
    }
    committed_ = true;
    response_->set_key(key_);
    response_->set_released(out->released);
    LOG(INFO) << "artifact " << key_ << " stored (" << received_
              << " bytes) from job " << header_->job_id() << "; "
              << out->released << " job(s) queued";
    service_->Announce(*out);
    return absl::OkStatus();
  }

  ArtifactService* const service_;
  grpc::CallbackServerContext* const context_;
  v1::UploadArtifactResponse* const response_;
  v1::UploadArtifactRequest message_;
  std::optional<v1::UploadArtifactRequest> header_;
  Principal who_;
  std::string key_, path_;
  std::ofstream out_;
  Sha256 hash_;
  int64_t received_ = 0;
  bool committed_ = false;
};

grpc::ServerReadReactor<v1::UploadArtifactRequest>*
ArtifactService::UploadArtifact(grpc::CallbackServerContext* context,
                                v1::UploadArtifactResponse* response) {
  return new Upload(this, context, response);
}

// ---------------------------------------------------------------------------
// Download: the artifact of a job the caller leases, hashed as it is read.
// A missing or corrupt file loses the artifact: the job waits for its
// pretraining to run again, and no attempt is used up.
// ---------------------------------------------------------------------------

class ArtifactService::Download
    : public grpc::ServerWriteReactor<v1::DownloadArtifactResponse> {
 public:
  Download(ArtifactService* service, grpc::CallbackServerContext* context,
           const v1::DownloadArtifactRequest* request)
      : service_(service), request_(*request) {
    absl::Status s = Start(*context);
    if (!s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "download ended"));
      return;
    }
    Next();
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Start(const grpc::CallbackServerContext& context) {
    absl::StatusOr<Principal> who =
        service_->policy_->Authorize(context, request_, Access::kWorker);
    if (!who.ok()) return who.status();
    credentials_ =
        Credentials(request_.worker_id(), *who, request_.lease_token());
    absl::StatusOr<storage::Store::Download> download =
        service_->store_->ArtifactToDownload(request_.job_id(), credentials_);
    if (!download.ok()) return download.status();
    row_.key = download->key;
    if (!download->artifact.has_value()) return Lose("it is not stored");
    row_ = *download->artifact;
    in_.open(service_->folder_->PathOf(row_.key), std::ios::binary);
    if (in_) return absl::OkStatus();
    return Lose("its file is missing");
  }

  // Loses the artifact and answers why.
  absl::Status Lose(const std::string& why) {
    absl::StatusOr<storage::ArtifactOutcome> out =
        service_->store_->LoseArtifact(
            row_.key, request_.job_id(), credentials_,
            absl::StrCat("its pretraining artifact was lost (", why,
                         "); waiting for it to be made again"));
    if (!out.ok()) return out.status();
    LOG(WARNING) << "artifact " << row_.key << " lost: " << why
                 << "; its pretraining runs again";
    service_->folder_->Remove(row_.key);
    service_->Announce(*out);
    return absl::FailedPreconditionError(absl::StrCat(
        "the pretraining artifact ", row_.key, " was lost (", why, "); job ",
        request_.job_id(), " waits for its pretraining to run again; drop it"));
  }

  void Next() {
    message_.Clear();
    std::string* data = message_.mutable_data();
    data->resize(kChunkBytes);
    in_.read(data->data(), kChunkBytes);
    data->resize(static_cast<size_t>(in_.gcount()));
    hash_.Update(*data);
    sent_ += static_cast<int64_t>(data->size());
    if (!header_sent_ || !data->empty()) {
      if (!header_sent_) {
        message_.set_key(row_.key);
        message_.set_sha256(row_.sha256);
        message_.set_size_bytes(row_.size_bytes);
        message_.set_device(row_.device);
        message_.set_threads(row_.threads);
        header_sent_ = true;
      }
      StartWrite(&message_);
      return;
    }
    // Everything is sent: the bytes must be the ones stored.
    if (hash_.HexDigest() != row_.sha256 || sent_ != row_.size_bytes) {
      absl::Status s = Lose("its file does not match its SHA-256");
      Finish(ToGrpcStatus(absl::DataLossError(s.message())));
      return;
    }
    service_->store_->TouchArtifact(row_.key).IgnoreError();
    Finish(grpc::Status::OK);
  }

  ArtifactService* const service_;
  const v1::DownloadArtifactRequest request_;
  storage::LeaseCredentials credentials_;
  storage::ArtifactRow row_;
  std::ifstream in_;
  Sha256 hash_;
  v1::DownloadArtifactResponse message_;
  int64_t sent_ = 0;
  bool header_sent_ = false;
};

grpc::ServerWriteReactor<v1::DownloadArtifactResponse>*
ArtifactService::DownloadArtifact(grpc::CallbackServerContext* context,
                                  const v1::DownloadArtifactRequest* request) {
  return new Download(this, context, request);
}

// ---------------------------------------------------------------------------
// Listing and deletion.
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* ArtifactService::ListArtifacts(
    grpc::CallbackServerContext* context,
    const v1::ListArtifactsRequest* request,
    v1::ListArtifactsResponse* response) {
  return Unary(context, *request, *policy_, Access::kRead,
               [&](const Principal&) -> absl::Status {
                 absl::StatusOr<std::vector<storage::ArtifactRow>> rows =
                     store_->ListArtifacts();
                 if (!rows.ok()) return rows.status();
                 int64_t total = 0;
                 for (const storage::ArtifactRow& row : *rows) {
                   v1::Artifact* a = response->add_artifacts();
                   a->set_key(row.key);
                   a->set_sha256(row.sha256);
                   a->set_size_bytes(row.size_bytes);
                   a->set_created_ms(row.created_ms);
                   a->set_last_used_ms(row.last_used_ms);
                   a->set_device(row.device);
                   a->set_threads(row.threads);
                   a->set_worker_token_name(row.worker_token_name);
                   for (const std::string& id : row.sweep_ids)
                     a->add_sweep_ids(id);
                   a->set_needed_by(row.needed_by);
                   total += row.size_bytes;
                 }
                 response->set_total_bytes(total);
                 response->set_quota_bytes(folder_->options().quota_bytes);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ArtifactService::DeleteArtifact(
    grpc::CallbackServerContext* context,
    const v1::DeleteArtifactRequest* request,
    v1::DeleteArtifactResponse* response) {
  return Unary(
      context, *request, *policy_, Access::kAdmin,
      [&](const Principal& who) -> absl::Status {
        const std::string& key = request->key();
        if (!ArtifactFolder::IsKey(key)) {
          return absl::InvalidArgumentError(
              "key must be an artifact key, 64 hex digits (`forgetlab "
              "artifacts` lists them)");
        }
        absl::StatusOr<std::optional<storage::ArtifactRow>> row =
            store_->GetArtifact(key);
        if (!row.ok()) return row.status();
        if (!row->has_value()) {
          return absl::NotFoundError(absl::StrCat(
              "no artifact ", key, "; `forgetlab artifacts` lists them"));
        }
        absl::StatusOr<storage::ArtifactOutcome> out =
            store_->LoseArtifact(key, 0, {}, "");
        if (!out.ok()) return out.status();
        folder_->Remove(key);
        response->set_size_bytes((*row)->size_bytes);
        response->set_waiting(out->waiting);
        LOG(INFO) << "artifact " << key << " deleted by "
                  << (who.name.empty() ? "an admin" : who.name) << "; "
                  << out->waiting << " job(s) wait for it again";
        Announce(*out);
        return absl::OkStatus();
      });
}

}  // namespace forgetlab
