// The worker's artifact cache, upload and download.
#include "worker/artifact_client.h"

#include <glog/logging.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/net/channel.h"
#include "proto/net/sha256.h"

namespace forgetlab {
namespace fs = std::filesystem;
namespace {

constexpr int kChunkBytes = 1 << 20;
constexpr size_t kMaxHeld = 256;

std::unique_ptr<grpc::ClientContext> CallContext(const std::string& token,
                                                 std::chrono::seconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  AttachToken(token, ctx.get());
  return ctx;
}

absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

}  // namespace

ArtifactClient::ArtifactClient(Options options,
                               std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      stub_(v1::ArtifactService::NewStub(std::move(channel))) {}

absl::Status ArtifactClient::Init() {
  std::error_code ec;
  fs::create_directories(options_.cache_dir, ec);
  if (ec || !fs::is_directory(options_.cache_dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create the artifact cache ", options_.cache_dir, " (",
        ec.message(), "); pass a writable --artifact_cache_dir"));
  }
  chmod(options_.cache_dir.c_str(), 0700);
  // Leftovers of workers that died writing ("pretraining-<pid>-<n>.partial";
  // the folder may be shared with live workers).
  for (const auto& entry : fs::directory_iterator(options_.cache_dir, ec)) {
    const std::string name = entry.path().filename().string();
    int pid = 0;
    if (absl::EndsWith(name, ".partial") &&
        std::sscanf(name.c_str(), "pretraining-%d-", &pid) == 1 &&
        kill(pid, 0) != 0 && errno == ESRCH) {
      fs::remove(entry.path(), ec);
    }
  }
  return absl::OkStatus();
}

std::string ArtifactClient::PathOf(const std::string& key) const {
  return (fs::path(options_.cache_dir) / (key + ".pt")).string();
}

std::vector<std::string> ArtifactClient::Held() {
  std::vector<std::pair<fs::file_time_type, std::string>> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.cache_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 67 || !absl::EndsWith(name, ".pt")) continue;
    files.emplace_back(entry.last_write_time(ec), name.substr(0, 64));
  }
  std::sort(files.rbegin(), files.rend());
  std::vector<std::string> keys;
  for (const auto& [time, key] : files) {
    if (keys.size() == kMaxHeld) break;
    keys.push_back(key);
  }
  return keys;
}

std::string ArtifactClient::NewOutputPath() {
  static std::atomic<uint64_t> serial{0};
  return (fs::path(options_.cache_dir) / absl::StrCat("pretraining-", getpid(),
                                                      "-", serial.fetch_add(1),
                                                      ".partial"))
      .string();
}

void ArtifactClient::Used(const std::string& key) {
  absl::MutexLock lock(&mu_);
  std::error_code ec;
  fs::last_write_time(PathOf(key), fs::file_time_type::clock::now(), ec);
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  int64_t total = 0;
  for (const auto& entry : fs::directory_iterator(options_.cache_dir, ec)) {
    if (entry.path().extension() != ".pt") continue;
    files.emplace_back(entry.last_write_time(ec), entry.path());
    total += static_cast<int64_t>(entry.file_size(ec));
  }
  std::sort(files.begin(), files.end());  // oldest first
  // A file used in the last ten minutes may be loading in another slot.
  const auto recent =
      fs::file_time_type::clock::now() - std::chrono::minutes(10);
  for (const auto& [time, path] : files) {
    if (total <= options_.cache_bytes) break;
    if (path.filename() == key + ".pt" || time > recent) continue;
    total -= static_cast<int64_t>(fs::file_size(path, ec));
    fs::remove(path, ec);
  }
}

absl::Status ArtifactClient::Upload(const LeaseRef& lease,
                                    const std::string& key,
                                    const std::string& path,
                                    const std::string& device, int threads) {
  absl::StatusOr<std::string> sha = FileSha256(path);
  if (!sha.ok()) return sha.status();
  std::error_code ec;
  const int64_t size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ifstream in(path, std::ios::binary);
  std::unique_ptr<grpc::ClientContext> ctx =
      CallContext(options_.token, std::chrono::seconds(600));
  v1::UploadArtifactResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadArtifactRequest>> writer =
      stub_->UploadArtifact(ctx.get(), &response);
  v1::UploadArtifactRequest message;
  message.set_worker_id(lease.worker_id);
  message.set_job_id(lease.job_id);
  message.set_lease_token(lease.lease_token);
  message.set_sha256(*sha);
  message.set_size_bytes(size);
  message.set_device(device);
  message.set_threads(threads);
  // Under a bandwidth cap, ten messages a second.
  const int64_t rate = options_.upload_bytes_per_second;
  const int64_t chunk =
      rate > 0 ? std::clamp<int64_t>(rate / 10, 1, kChunkBytes) : kChunkBytes;
  std::string buffer(static_cast<size_t>(chunk), '\0');
  const auto start = std::chrono::steady_clock::now();
  int64_t sent = 0;
  bool first = true;
  while (in || first) {
    in.read(buffer.data(), static_cast<std::streamsize>(chunk));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0 && !first) break;
    message.set_data(buffer.data(), n);
    if (!writer->Write(message)) break;  // the server ended the call
    message.Clear();
    first = false;
    sent += static_cast<int64_t>(n);
    if (rate > 0) {
      std::this_thread::sleep_until(
          start + std::chrono::milliseconds(sent * 1000 / rate));
    }
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) return FromGrpc(s, "uploading the pretrained weights");
  {
    absl::MutexLock lock(&mu_);
    fs::rename(path, PathOf(key), ec);
  }
  if (!ec) Used(key);
  LOG(INFO) << "artifact " << key << " uploaded (" << size << " bytes); "
            << response.released() << " job(s) can run now";
  return absl::OkStatus();
}

absl::StatusOr<ArtifactClient::Fetched> ArtifactClient::Fetch(
    const LeaseRef& lease, const std::string& key) {
  std::unique_ptr<grpc::ClientContext> ctx =
      CallContext(options_.token, std::chrono::seconds(600));
  v1::DownloadArtifactRequest request;
  request.set_worker_id(lease.worker_id);
  request.set_job_id(lease.job_id);
  request.set_lease_token(lease.lease_token);
  std::unique_ptr<grpc::ClientReader<v1::DownloadArtifactResponse>> reader =
      stub_->DownloadArtifact(ctx.get(), request);
  v1::DownloadArtifactResponse message;
  if (!reader->Read(&message)) {
    return FromGrpc(reader->Finish(), "downloading the pretrained weights");
  }
  Fetched out{PathOf(key), message.sha256(), message.device(),
              message.threads(), false};
  // The cached copy, if its bytes are the server's.
  absl::StatusOr<std::string> cached = FileSha256(out.path);
  if (cached.ok() && *cached == out.sha256) {
    ctx->TryCancel();
    reader->Finish().ok();  // CANCELLED, as asked
    Used(key);
    return out;
  }
  const std::string partial = NewOutputPath();
  std::ofstream file(partial, std::ios::binary | std::ios::trunc);
  Sha256 hash;
  int64_t received = 0;
  do {
    hash.Update(message.data());
    file.write(message.data().data(),
               static_cast<std::streamsize>(message.data().size()));
    received += static_cast<int64_t>(message.data().size());
  } while (reader->Read(&message));
  file.close();
  grpc::Status s = reader->Finish();
  std::error_code ec;
  if (!s.ok()) {
    fs::remove(partial, ec);
    return FromGrpc(s, "downloading the pretrained weights");
  }
  if (!file || hash.HexDigest() != out.sha256) {
    fs::remove(partial, ec);
    return absl::DataLossError(absl::StrCat(
        "the pretrained weights received (", received,
        " bytes) do not have the SHA-256 the server announced, ", out.sha256));
  }
  {
    absl::MutexLock lock(&mu_);
    fs::rename(partial, out.path, ec);
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot keep the weights in ", out.path));
  }
  out.downloaded = true;
  Used(key);
  return out;
}

}  // namespace forgetlab
