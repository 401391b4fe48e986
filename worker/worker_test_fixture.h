// The worker tests' fixture: an in-process scheduler on loopback, sweeps
// submitted to it, and worker options that poll and back off quickly.
#ifndef FORGETLAB_WORKER_WORKER_TEST_FIXTURE_H_
#define FORGETLAB_WORKER_WORKER_TEST_FIXTURE_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "google/protobuf/text_format.h"
#include "server/scheduler.h"
#include "tests/fixtures.h"
#include "worker/worker.h"

namespace forgetlab {

class WorkerTest : public ::testing::Test {
 protected:
  void StartServer(int port = 0, const std::string& tokens_file = "") {
    SchedulerServer::Options options;
    options.tokens_file = tokens_file;
    options.listen = absl::StrCat("127.0.0.1:", port);
    options.db_path = database_.path();
    options.lease_seconds = 10;
    auto server = SchedulerServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = absl::StrCat("127.0.0.1:", server_->port());
    client_ = v1::ForgetlabService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  std::string Submit(const std::string& base, const std::string& rest) {
    v1::SubmitSweepRequest request;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
        absl::StrCat("base {", base, "} ", rest), request.mutable_sweep()));
    grpc::ClientContext ctx;
    v1::SubmitSweepResponse response;
    grpc::Status s = client_->SubmitSweep(&ctx, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.sweep_id();
  }

  std::vector<v1::Job> Jobs(const std::string& sweep_id) {
    grpc::ClientContext ctx;
    v1::ListJobsRequest request;
    request.set_sweep_id(sweep_id);
    v1::ListJobsResponse response;
    EXPECT_TRUE(client_->ListJobs(&ctx, request, &response).ok());
    return {response.jobs().begin(), response.jobs().end()};
  }

  Worker::Options WorkerOptions(int max_jobs) {
    Worker::Options options;
    options.scheduler = address_;
    options.threads = 1;
    options.wait_seconds = 1;
    options.max_jobs = max_jobs;
    options.min_backoff = absl::Milliseconds(50);
    options.max_backoff = absl::Milliseconds(200);
    // A cache of the test's own, emptied when the fixture starts.
    options.artifact_cache_dir = database_.path() + "-cache";
    return options;
  }

  fixtures::TempDatabase database_;
  std::string address_;
  std::unique_ptr<SchedulerServer> server_;
  std::unique_ptr<v1::ForgetlabService::Stub> client_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_WORKER_WORKER_TEST_FIXTURE_H_
