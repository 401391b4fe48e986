// Worker::Impl::RunByKind: how a worker trains a pretraining job (pretrain,
// upload the weights) and an experiment that shares pretraining (fetch the
// weights, load them in place of pretraining).
#include <glog/logging.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "worker/job_runner.h"
#include "worker/worker_impl.h"

namespace forgetlab {
namespace {

// Errors worth another try: the scheduler restarting or overloaded.
bool IsTransient(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

absl::Status Worker::Impl::UploadWeights(Slot& slot, const ActiveLease& lease,
                                         const v1::Job& job,
                                         const std::string& path,
                                         const std::string& device,
                                         int threads) {
  const ArtifactClient::LeaseRef ref{slot.worker_id, lease.job_id, lease.token};
  // Worth retrying through a scheduler restart, for two lease periods as a
  // result is; the heartbeats keep the lease meanwhile.
  const absl::Time give_up =
      absl::Now() + absl::Seconds(2 * slot.lease_seconds + 10);
  ResetBackoff(slot);
  absl::Status up;
  while (!stopping()) {
    up = artifacts_->Upload(ref, job.artifact_key(), path, device, threads);
    if (up.ok() || !IsTransient(up) || absl::Now() > give_up) break;
    Backoff(slot, absl::StrCat("uploading the artifact of job ", lease.job_id,
                               " failed: ", up.message()));
  }
  std::remove(path.c_str());  // kept in the cache only once stored
  return up;
}

absl::StatusOr<v1::JobResult> Worker::Impl::RunByKind(
    Slot& slot, const ActiveLease& lease, const v1::Job& job,
    bool upload_pretraining, train::RunOptions options, bool* settled) {
  const ArtifactClient::LeaseRef ref{slot.worker_id, lease.job_id, lease.token};
  const bool pretrain_job = job.kind() == "pretrain";
  if (pretrain_job || (!job.artifact_key().empty() && upload_pretraining)) {
    // A pretraining job trains its pretraining only; an experiment that
    // nothing else pretrains for trains whole, as without sharing. Both
    // keep the weights for the jobs of their key.
    const std::string output = artifacts_->NewOutputPath();
    options.pretrain_output_path = output;
    options.pretrain_only = pretrain_job;
    absl::StatusOr<v1::JobResult> result = RunJob(job.spec(), options);
    if (!result.ok()) {
      std::remove(output.c_str());
      return result;
    }
    // A pretraining-only result names no device; the worker's does.
    absl::Status up = UploadWeights(
        slot, lease, job, output,
        result->device().empty() ? options.device : result->device(),
        options.threads);
    if (!pretrain_job) {
      // The result stands either way; a later job pretrains again.
      if (!up.ok()) {
        LOG(WARNING) << "job " << lease.job_id
                     << ": its pretrained weights were not kept: "
                     << up.message();
      }
      return result;
    }
    if (up.ok()) {
      *settled = true;
      return result;
    }
    LOG(WARNING) << "job " << lease.job_id << ": " << up.message();
    if (up.code() == absl::StatusCode::kAborted ||
        up.code() == absl::StatusCode::kNotFound) {
      *settled = true;  // the lease is gone: someone else runs it
    }
    return up;  // reported: e.g. an artifact over the server's limits
  }
  if (!job.artifact_key().empty()) {
    absl::StatusOr<ArtifactClient::Fetched> fetched;
    for (int attempt = 0; attempt < 5 && !stopping(); ++attempt) {
      fetched = artifacts_->Fetch(ref, job.artifact_key());
      if (fetched.ok() || !IsTransient(fetched.status())) break;
      Backoff(slot,
              absl::StrCat("downloading the artifact of job ", lease.job_id,
                           " failed: ", fetched.status().message()));
    }
    if (!fetched.ok()) {
      LOG(WARNING) << "job " << lease.job_id << ": "
                   << fetched.status().message();
      if (fetched.status().code() == absl::StatusCode::kDataLoss ||
          IsTransient(fetched.status()) || stopping()) {
        // Handed back untried: another worker (or this one) fetches again.
        return absl::CancelledError(fetched.status().message());
      }
      *settled = true;  // the server has the job wait for its pretraining
      return fetched.status();
    }
    LOG(INFO) << "job " << lease.job_id << " loads pretrained weights "
              << fetched->sha256.substr(0, 12) << " ("
              << (fetched->downloaded ? "downloaded" : "cached") << ")";
    options.pretrained_path = fetched->path;
    absl::StatusOr<v1::JobResult> result = RunJob(job.spec(), options);
    if (!result.ok() && result.status().code() == absl::StatusCode::kNotFound) {
      // The cached file went between the fetch and the load.
      return absl::CancelledError(result.status().message());
    }
    if (result.ok()) {
      v1::Provenance* p = result->mutable_provenance();
      p->set_pretrain_artifact_sha256(fetched->sha256);
      p->set_pretrain_device(fetched->device);
      p->set_pretrain_threads(fetched->threads);
    }
    return result;
  }
  return RunJob(job.spec(), options);
}

}  // namespace forgetlab
