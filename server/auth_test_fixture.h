// The access tests' fixture: a server on loopback with a tokens file that
// holds one token per test identity (workers w1 and w2, clients carol and
// dave, admin root), and calls made as each of them.
#ifndef FORGETLAB_SERVER_AUTH_TEST_FIXTURE_H_
#define FORGETLAB_SERVER_AUTH_TEST_FIXTURE_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "proto/net/channel.h"
#include "server/auth.h"
#include "server/scheduler.h"
#include "tests/fixtures.h"

namespace forgetlab {

// A server with a tokens file holding one token per test identity.
class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fixtures::TestDir("security");
    const std::string tokens_file = (dir_ / "tokens").string();
    for (auto [name, role] :
         {std::pair{"w1", Role::kWorker}, std::pair{"w2", Role::kWorker},
          std::pair{"carol", Role::kClient}, std::pair{"dave", Role::kClient},
          std::pair{"root", Role::kAdmin}}) {
      absl::StatusOr<std::string> token = AddToken(tokens_file, role, name);
      ASSERT_TRUE(token.ok()) << token.status();
      tokens_[name] = *token;
    }
    tokens_["none"] = "";
    tokens_["bogus"] = "flt_" + std::string(64, '0');
    SchedulerServer::Options options;
    options.listen = "127.0.0.1:0";
    options.db_path = (dir_ / "forgetlab.db").string();
    options.tokens_file = tokens_file;
    options.data_roots = {"/usr/share/datasets"};
    options_ = options;
    Restart();
  }

  // (Re)starts the server with options_ and connects the stubs to it.
  void Restart() {
    server_.reset();
    auto server = SchedulerServer::Start(options_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto channel = OpenChannel({absl::StrCat("127.0.0.1:", server_->port())});
    ASSERT_TRUE(channel.ok());
    client_ = v1::ForgetlabService::NewStub(*channel);
    worker_ = v1::WorkerService::NewStub(*channel);
    artifacts_ = v1::ArtifactService::NewStub(*channel);
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& who) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(20));
    AttachToken(tokens_.at(who), ctx.get());
    return ctx;
  }

  grpc::Status Submit(const std::string& who, const v1::SweepSpec& sweep,
                      v1::SubmitSweepResponse* out) {
    v1::SubmitSweepRequest request;
    *request.mutable_sweep() = sweep;
    return client_->SubmitSweep(As(who).get(), request, out);
  }

  std::filesystem::path dir_;
  std::map<std::string, std::string> tokens_;
  SchedulerServer::Options options_;
  std::unique_ptr<SchedulerServer> server_;
  std::unique_ptr<v1::ForgetlabService::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
  std::unique_ptr<v1::ArtifactService::Stub> artifacts_;
};

}  // namespace forgetlab

#endif  // FORGETLAB_SERVER_AUTH_TEST_FIXTURE_H_
