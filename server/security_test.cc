// Who may call what, over real TLS and plaintext channels on loopback: the
// role x RPC matrix, sweep ownership, handshakes that must fail, the refusal
// of an insecure network listen, and the request limits.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "proto/net/channel.h"
#include "server/auth.h"
#include "server/auth_test_fixture.h"
#include "server/listen_policy.h"
#include "server/scheduler.h"
#include "tests/fixtures.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

fs::path TestDir() { return fixtures::TestDir("security"); }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs deploy/make-certs.sh into `dir`.
void MakeCerts(const fs::path& dir) {
  const std::string command =
      absl::StrCat(FORGETLAB_SOURCE_DIR, "/deploy/make-certs.sh ", dir.string(),
                   " >/dev/null");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

using fixtures::ParseSweep;
v1::SweepSpec Sweep(const std::string& text) { return ParseSweep(text); }
// Two jobs (seeds 0 and 1) on the synthetic set.
v1::SweepSpec SmallSweep() { return fixtures::SyntheticSweep(2); }

TEST_F(AuthTest, TokensFileHoldsHashesOnly) {
  const std::string text = ReadFile(dir_ / "tokens");
  for (const auto& [name, token] : tokens_) {
    if (!token.empty()) EXPECT_THAT(text, Not(HasSubstr(token))) << name;
  }
  EXPECT_THAT(text, HasSubstr(" client carol\n"));
  EXPECT_EQ(fs::status(dir_ / "tokens").permissions() & fs::perms::others_read,
            fs::perms::none);
  absl::StatusOr<TokenSet> set = TokenSet::Load((dir_ / "tokens").string());
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(set->Find(tokens_["carol"]).has_value());
  EXPECT_EQ(set->Find(tokens_["carol"])->role, Role::kClient);
  EXPECT_FALSE(set->Find(tokens_["carol"] + "x").has_value());
  EXPECT_FALSE(set->Find("").has_value());
  // A second token with a taken name is refused.
  EXPECT_EQ(AddToken((dir_ / "tokens").string(), Role::kAdmin, "carol")
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      AddToken((dir_ / "tokens").string(), Role::kAdmin, "a b").status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(TokenSetTest, BadLinesNameTheFileAndLine) {
  const fs::path dir = TestDir();
  std::ofstream(dir / "tokens") << "# comment\n\nsha256:abc admin x\n";
  // Readable by others: refused, with the command that fixes it.
  absl::StatusOr<TokenSet> set = TokenSet::Load((dir / "tokens").string());
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(set.status().message()),
              HasSubstr("run  chmod 600 " + (dir / "tokens").string()));
  fs::permissions(dir / "tokens",
                  fs::perms::owner_read | fs::perms::owner_write);
  set = TokenSet::Load((dir / "tokens").string());
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(set.status().message()),
              HasSubstr((dir / "tokens").string() + ":3:"));
  std::ofstream(dir / "tokens2")
      << "sha256:" << std::string(64, 'a') << " superuser x\n";
  fs::permissions(dir / "tokens2",
                  fs::perms::owner_read | fs::perms::owner_write);
  set = TokenSet::Load((dir / "tokens2").string());
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(std::string(set.status().message()), HasSubstr("superuser"));
  EXPECT_FALSE(TokenSet::Load((dir / "missing").string()).ok());
}

// Every RPC, called as every identity: the code class must match the role.
TEST_F(AuthTest, RoleByRpcMatrix) {
  v1::SubmitSweepResponse submitted;
  ASSERT_TRUE(Submit("carol", SmallSweep(), &submitted).ok());
  const std::string carols = submitted.sweep_id();

  enum Need { kWorker, kClient, kOwner, kAdmin };
  struct Rpc {
    std::string name;
    Need need;
    std::function<grpc::Status(grpc::ClientContext*)> call;
  };
  std::vector<Rpc> rpcs = {
      {"SubmitSweep", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::SubmitSweepRequest r;
         *r.mutable_sweep() = SmallSweep();
         r.set_dry_run(true);
         v1::SubmitSweepResponse out;
         return client_->SubmitSweep(ctx, r, &out);
       }},
      {"GetSweep", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::GetSweepRequest r;
         r.set_sweep_id(carols);
         v1::SweepStatus out;
         return client_->GetSweep(ctx, r, &out);
       }},
      {"ListSweeps", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::ListSweepsResponse out;
         return client_->ListSweeps(ctx, {}, &out);
       }},
      {"ListJobs", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::ListJobsRequest r;
         r.set_sweep_id(carols);
         v1::ListJobsResponse out;
         return client_->ListJobs(ctx, r, &out);
       }},
      {"WatchSweep", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::WatchSweepRequest r;
         r.set_sweep_id(carols);
         auto reader = client_->WatchSweep(ctx, r);
         v1::SweepEvent event;
         if (reader->Read(&event)) {
           ctx->TryCancel();
           reader->Finish().IgnoreError();
           return grpc::Status::OK;
         }
         return reader->Finish();
       }},
      {"QueryTable", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::QueryTableRequest r;
         r.add_sweep_ids(carols);
         v1::Table out;
         return client_->QueryTable(ctx, r, &out);
       }},
      {"ListResults", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::ListResultsRequest r;
         r.set_sweep_id(carols);
         v1::ListResultsResponse out;
         return client_->ListResults(ctx, r, &out);
       }},
      {"ListWorkers", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::ListWorkersResponse out;
         return client_->ListWorkers(ctx, {}, &out);
       }},
      {"RetrySweep", kOwner,
       [&](grpc::ClientContext* ctx) {
         v1::RetrySweepRequest r;
         r.set_sweep_id(carols);
         v1::RetrySweepResponse out;
         return client_->RetrySweep(ctx, r, &out);
       }},
      {"ExtendSweep", kOwner,
       [&](grpc::ClientContext* ctx) {
         v1::ExtendSweepRequest r;
         r.set_sweep_id(carols);
         r.add_seeds(7);
         r.set_dry_run(true);  // counts, adds nothing
         v1::ExtendSweepResponse out;
         return client_->ExtendSweep(ctx, r, &out);
       }},
      {"CancelSweep", kOwner,
       [&](grpc::ClientContext* ctx) {
         v1::CancelSweepRequest r;
         r.set_sweep_id(carols);
         r.add_job_ids(1 << 30);  // no such job: cancels nothing
         v1::CancelSweepResponse out;
         return client_->CancelSweep(ctx, r, &out);
       }},
      {"RegisterWorker", kWorker,
       [&](grpc::ClientContext* ctx) {
         v1::RegisterWorkerRequest r;
         r.set_host("h");
         r.set_device("cpu");
         v1::RegisterWorkerResponse out;
         return worker_->RegisterWorker(ctx, r, &out);
       }},
      {"LeaseJob", kWorker,
       [&](grpc::ClientContext* ctx) {
         v1::LeaseJobRequest r;
         r.set_worker_id("wk-unknown");
         v1::LeaseJobResponse out;
         return worker_->LeaseJob(ctx, r, &out);
       }},
      {"Heartbeat", kWorker,
       [&](grpc::ClientContext* ctx) {
         v1::HeartbeatRequest r;
         r.set_job_id(1 << 30);
         v1::HeartbeatResponse out;
         return worker_->Heartbeat(ctx, r, &out);
       }},
      {"CompleteJob", kWorker,
       [&](grpc::ClientContext* ctx) {
         v1::CompleteJobRequest r;
         r.set_job_id(1 << 30);
         v1::CompleteJobResponse out;
         return worker_->CompleteJob(ctx, r, &out);
       }},
      {"FailJob", kWorker,
       [&](grpc::ClientContext* ctx) {
         v1::FailJobRequest r;
         r.set_job_id(1 << 30);
         v1::FailJobResponse out;
         return worker_->FailJob(ctx, r, &out);
       }},
      {"DeleteSweep", kOwner,
       [&](grpc::ClientContext* ctx) {
         v1::DeleteSweepRequest r;
         r.set_sweep_id(carols);  // still queued: refused, but not for auth
         v1::DeleteSweepResponse out;
         return client_->DeleteSweep(ctx, r, &out);
       }},
      {"UploadArtifact", kWorker,
       [&](grpc::ClientContext* ctx) {
         v1::UploadArtifactResponse out;
         auto writer = artifacts_->UploadArtifact(ctx, &out);
         v1::UploadArtifactRequest r;
         r.set_job_id(1 << 30);
         r.set_sha256(std::string(64, 'a'));
         r.set_size_bytes(1);
         r.set_data("x");
         writer->Write(r);
         writer->WritesDone();
         return writer->Finish();
       }},
      {"DownloadArtifact", kWorker,
       [&](grpc::ClientContext* ctx) {
         v1::DownloadArtifactRequest r;
         r.set_job_id(1 << 30);
         auto reader = artifacts_->DownloadArtifact(ctx, r);
         v1::DownloadArtifactResponse chunk;
         while (reader->Read(&chunk)) {
         }
         return reader->Finish();
       }},
      {"ListArtifacts", kClient,
       [&](grpc::ClientContext* ctx) {
         v1::ListArtifactsResponse out;
         return artifacts_->ListArtifacts(ctx, {}, &out);
       }},
      {"DeleteArtifact", kAdmin,
       [&](grpc::ClientContext* ctx) {
         v1::DeleteArtifactRequest r;
         r.set_key(std::string(64, '0'));  // none: NOT_FOUND when allowed
         v1::DeleteArtifactResponse out;
         return artifacts_->DeleteArtifact(ctx, r, &out);
       }},
      {"InvalidateResults", kAdmin,
       [&](grpc::ClientContext* ctx) {
         v1::InvalidateResultsRequest r;
         r.set_worker_token_name("nobody");
         v1::InvalidateResultsResponse out;
         return client_->InvalidateResults(ctx, r, &out);
       }},
  };
  // carol owns the sweep; dave is another client.
  auto expected = [](const std::string& who, Need need) {
    if (who == "none" || who == "bogus") {
      return grpc::StatusCode::UNAUTHENTICATED;
    }
    if (who == "root") return grpc::StatusCode::OK;
    if (need == kAdmin) return grpc::StatusCode::PERMISSION_DENIED;
    if (who == "w1") {
      return need == kWorker ? grpc::StatusCode::OK
                             : grpc::StatusCode::PERMISSION_DENIED;
    }
    if (need == kWorker) return grpc::StatusCode::PERMISSION_DENIED;
    if (need == kOwner && who == "dave") {
      return grpc::StatusCode::PERMISSION_DENIED;
    }
    return grpc::StatusCode::OK;
  };
  int checked = 0;
  for (const Rpc& rpc : rpcs) {
    for (const std::string who :
         {"none", "bogus", "w1", "carol", "dave", "root"}) {
      const grpc::Status s = rpc.call(As(who).get());
      const grpc::StatusCode want = expected(who, rpc.need);
      SCOPED_TRACE(absl::StrCat(rpc.name, " as ", who, ": ",
                                static_cast<int>(s.error_code()), " ",
                                s.error_message()));
      if (want == grpc::StatusCode::OK) {
        // Allowed: whatever the call says, it is not about the caller.
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
      } else {
        EXPECT_EQ(s.error_code(), want);
      }
      ++checked;
    }
  }
  // Every RPC of the three services is in the matrix.
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  const int methods =
      pool->FindServiceByName("forgetlab.v1.ForgetlabService")->method_count() +
      pool->FindServiceByName("forgetlab.v1.WorkerService")->method_count() +
      pool->FindServiceByName("forgetlab.v1.ArtifactService")->method_count();
  EXPECT_EQ(checked, methods * 6);
  EXPECT_EQ(methods, 22);

  // Reads that were allowed really answered.
  v1::GetSweepRequest get;
  get.set_sweep_id(carols);
  v1::SweepStatus status;
  ASSERT_TRUE(client_->GetSweep(As("dave").get(), get, &status).ok());
  EXPECT_EQ(status.owner(), "carol");
  EXPECT_EQ(status.total(), 2);
}

// The attack of issue 16: a second worker token acts on a job that the
// first token's worker holds.
TEST_F(AuthTest, AWorkerTokenCannotTouchAnotherTokensLease) {
  v1::SubmitSweepResponse submitted;
  ASSERT_TRUE(Submit("carol", SmallSweep(), &submitted).ok());
  auto register_as = [&](const std::string& who) {
    v1::RegisterWorkerRequest r;
    r.set_host(who);
    r.set_device("cpu");
    v1::RegisterWorkerResponse out;
    EXPECT_TRUE(worker_->RegisterWorker(As(who).get(), r, &out).ok());
    return out.worker_id();
  };
  const std::string honest = register_as("w1");
  const std::string thief = register_as("w2");
  v1::LeaseJobRequest lease_request;
  lease_request.set_worker_id(honest);
  // w2 cannot poll as w1's worker.
  v1::LeaseJobResponse stolen;
  EXPECT_EQ(
      worker_->LeaseJob(As("w2").get(), lease_request, &stolen).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  v1::LeaseJobResponse lease;
  ASSERT_TRUE(worker_->LeaseJob(As("w1").get(), lease_request, &lease).ok());
  ASSERT_TRUE(lease.has_job());
  EXPECT_EQ(lease.lease_token().size(), 32u);

  auto complete = [&](const std::string& who, const std::string& worker_id,
                      const std::string& token) {
    v1::CompleteJobRequest r;
    r.set_worker_id(worker_id);
    r.set_job_id(lease.job().job_id());
    r.set_lease_token(token);
    for (int i = 0; i < 2; ++i) {
      auto* row = r.mutable_result()->add_accuracy_matrix();
      row->add_accuracy(0.5);
      row->add_accuracy(0.5);
    }
    (*r.mutable_result()->mutable_metrics())["forgetting"] = 0.0;
    r.mutable_result()->set_parameter_count(100);
    r.mutable_result()->mutable_provenance()->set_worker_token_name("w2");
    v1::CompleteJobResponse out;
    return worker_->CompleteJob(As(who).get(), r, &out);
  };
  // As w1's worker: refused. As its own worker, even with the real lease
  // token: stale, and the error names no token.
  EXPECT_EQ(complete("w2", honest, lease.lease_token()).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status own = complete("w2", thief, lease.lease_token());
  EXPECT_EQ(own.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(own.error_message(), Not(HasSubstr(lease.lease_token())));
  v1::FailJobRequest fail;
  fail.set_worker_id(thief);
  fail.set_job_id(lease.job().job_id());
  fail.set_lease_token(lease.lease_token());
  v1::FailJobResponse failed;
  EXPECT_EQ(worker_->FailJob(As("w2").get(), fail, &failed).error_code(),
            grpc::StatusCode::ABORTED);
  v1::HeartbeatRequest beat;
  beat.set_worker_id(honest);
  beat.set_job_id(lease.job().job_id());
  beat.set_lease_token(lease.lease_token());
  v1::HeartbeatResponse beaten;
  EXPECT_EQ(worker_->Heartbeat(As("w2").get(), beat, &beaten).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // The genuine result lands, and says which token produced it (not what
  // the worker claimed).
  grpc::Status genuine = complete("w1", honest, lease.lease_token());
  ASSERT_TRUE(genuine.ok()) << genuine.error_message();
  v1::ListResultsRequest list;
  list.set_sweep_id(submitted.sweep_id());
  v1::ListResultsResponse results;
  ASSERT_TRUE(client_->ListResults(As("carol").get(), list, &results).ok());
  ASSERT_EQ(results.results_size(), 1);
  EXPECT_EQ(results.results(0).result().provenance().worker_token_name(), "w1");

  // An admin drops w1's results; the job is queued again.
  v1::InvalidateResultsRequest invalidate;
  invalidate.set_worker_token_name("w1");
  v1::InvalidateResultsResponse dropped;
  EXPECT_EQ(client_->InvalidateResults(As("carol").get(), invalidate, &dropped)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(
      client_->InvalidateResults(As("root").get(), invalidate, &dropped).ok());
  EXPECT_EQ(dropped.invalidated(), 1);
  v1::GetSweepRequest get;
  get.set_sweep_id(submitted.sweep_id());
  v1::SweepStatus status;
  ASSERT_TRUE(client_->GetSweep(As("carol").get(), get, &status).ok());
  EXPECT_EQ(status.succeeded(), 0);
  EXPECT_EQ(status.queued(), 2);
}

TEST_F(AuthTest, OwnerCancelsAndRequestIdsArePerOwner) {
  v1::SweepSpec sweep = SmallSweep();
  sweep.set_request_id("run-1");
  v1::SubmitSweepResponse carols, daves, again;
  ASSERT_TRUE(Submit("carol", sweep, &carols).ok());
  ASSERT_TRUE(Submit("dave", sweep, &daves).ok());
  EXPECT_NE(carols.sweep_id(), daves.sweep_id());
  EXPECT_FALSE(daves.existing());
  ASSERT_TRUE(Submit("carol", sweep, &again).ok());
  EXPECT_TRUE(again.existing());
  EXPECT_EQ(again.sweep_id(), carols.sweep_id());

  v1::CancelSweepRequest cancel;
  cancel.set_sweep_id(carols.sweep_id());
  v1::CancelSweepResponse out;
  grpc::Status s = client_->CancelSweep(As("dave").get(), cancel, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("belongs to 'carol'"));
  ASSERT_TRUE(client_->CancelSweep(As("carol").get(), cancel, &out).ok());
  EXPECT_EQ(out.cancelled(), 2);
}

TEST_F(AuthTest, LimitsAnswerWithoutCrashing) {
  // A message over --max_message_bytes.
  v1::SweepSpec huge = SmallSweep();
  huge.set_name(std::string(5 << 20, 'x'));
  v1::SubmitSweepResponse out;
  EXPECT_EQ(Submit("carol", huge, &out).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Too many axes, too many values, a non-numeric axis path.
  v1::SweepSpec axes = SmallSweep();
  for (int i = 0; i < 17; ++i) axes.add_axes()->set_path("model.width");
  grpc::Status s = Submit("carol", axes, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("at most 16"));
  v1::SweepSpec values = SmallSweep();
  v1::Axis* axis = values.add_axes();
  axis->set_path("model.width");
  for (int i = 0; i < 10001; ++i) axis->add_values(i + 1);
  s = Submit("carol", values, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("10001 values"));
  v1::SweepSpec string_axis = SmallSweep();
  string_axis.add_axes()->set_path("data.path");
  string_axis.mutable_axes(0)->add_values(1);
  s = Submit("carol", string_axis, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("not a numeric field"));
  v1::SweepSpec grid = SmallSweep();
  grid.clear_seeds();
  for (const char* path : {"model.width", "pretrain.examples", "seed"}) {
    v1::Axis* a = grid.add_axes();
    a->set_path(path);
    for (int i = 1; i <= 30; ++i) a->add_values(i);
  }
  s = Submit("carol", grid, &out);  // 27,000 jobs
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("10000 jobs"));

  // Data paths: traversal, and folders outside the data roots.
  v1::SweepSpec escape = Sweep(R"pb(
    base { data { dataset: "idx" path: "/usr/share/datasets/../../etc" } }
  )pb");
  s = Submit("carol", escape, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("data.path"));
  v1::SweepSpec outside = Sweep(R"pb(
    base { data { dataset: "idx" path: "/etc" } }
  )pb");
  s = Submit("carol", outside, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("--data_roots"));
  v1::SweepSpec sibling = Sweep(R"pb(
    base { data { dataset: "idx" path: "/usr/share/datasets-evil" } }
  )pb");
  EXPECT_EQ(Submit("carol", sibling, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // Long polls per worker.
  v1::RegisterWorkerRequest reg;
  reg.set_device("cpu");
  v1::RegisterWorkerResponse registered;
  ASSERT_TRUE(worker_->RegisterWorker(As("w1").get(), reg, &registered).ok());
  auto poll = [&] {
    v1::LeaseJobRequest r;
    r.set_worker_id(registered.worker_id());
    r.set_wait_seconds(3);
    v1::LeaseJobResponse response;
    return worker_->LeaseJob(As("w1").get(), r, &response);
  };
  // One more than the limit at once: exactly one is turned away.
  std::vector<std::future<grpc::Status>> open;
  for (int i = 0; i <= options_.max_polls_per_worker; ++i) {
    open.push_back(std::async(std::launch::async, poll));
  }
  int refused = 0;
  for (auto& f : open) {
    const grpc::Status s = f.get();
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      EXPECT_THAT(s.error_message(), HasSubstr("long polls"));
      ++refused;
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
  }
  EXPECT_EQ(refused, 1);
  // Finished polls free their slots.
  EXPECT_TRUE(poll().ok());
}

// One worker token cannot take every long-poll slot with many workers.
TEST_F(AuthTest, LongPollsAreCappedPerToken) {
  server_.reset();
  SchedulerServer::Options options = options_;
  options.max_polls_per_token = 2;
  auto server = SchedulerServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  auto channel = OpenChannel({absl::StrCat("127.0.0.1:", server_->port())});
  ASSERT_TRUE(channel.ok());
  worker_ = v1::WorkerService::NewStub(*channel);
  auto register_as = [&](const std::string& who) {
    v1::RegisterWorkerRequest r;
    r.set_device("cpu");
    v1::RegisterWorkerResponse out;
    EXPECT_TRUE(worker_->RegisterWorker(As(who).get(), r, &out).ok());
    return out.worker_id();
  };
  auto poll = [&](const std::string& who, const std::string& id) {
    v1::LeaseJobRequest r;
    r.set_worker_id(id);
    r.set_wait_seconds(3);
    v1::LeaseJobResponse response;
    return worker_->LeaseJob(As(who).get(), r, &response);
  };
  std::vector<std::future<grpc::Status>> open;
  for (int i = 0; i < 2; ++i) {
    const std::string id = register_as("w1");
    open.push_back(std::async(std::launch::async, poll, "w1", id));
  }
  ASSERT_TRUE(
      fixtures::WaitFor([&] { return server_->open_long_polls() == 2; }));
  const grpc::Status third = poll("w1", register_as("w1"));
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.error_message(), HasSubstr("per token"));
  EXPECT_TRUE(poll("w2", register_as("w2")).ok());  // another pool still can
  for (auto& f : open) EXPECT_TRUE(f.get().ok());
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestDir();
    MakeCerts(dir_ / "lab");
    MakeCerts(dir_ / "other");  // a CA the server does not use
  }

  std::unique_ptr<SchedulerServer> Start(bool mutual) {
    SchedulerServer::Options options;
    options.listen = "127.0.0.1:0";
    options.db_path = (dir_ / "forgetlab.db").string();
    options.tls_cert_file = (dir_ / "lab/server.pem").string();
    options.tls_key_file = (dir_ / "lab/server.key").string();
    if (mutual) options.client_ca_file = (dir_ / "lab/ca.pem").string();
    auto server = SchedulerServer::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // ListSweeps through a channel made from `options`.
  grpc::Status Call(ChannelOptions options) {
    auto channel = OpenChannel(options);
    if (!channel.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          std::string(channel.status().message()));
    }
    auto stub = v1::ForgetlabService::NewStub(*channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(5));
    v1::ListSweepsResponse out;
    return stub->ListSweeps(&ctx, {}, &out);
  }

  fs::path dir_;
};

TEST_F(TlsTest, HandshakesSucceedOnlyWithTheRightCa) {
  std::unique_ptr<SchedulerServer> server = Start(/*mutual=*/false);
  ASSERT_NE(server, nullptr);
  const std::string port = std::to_string(server->port());
  ChannelOptions good{"localhost:" + port, (dir_ / "lab/ca.pem").string()};
  EXPECT_TRUE(Call(good).ok());
  ChannelOptions by_ip{"127.0.0.1:" + port, (dir_ / "lab/ca.pem").string()};
  EXPECT_TRUE(Call(by_ip).ok());

  ChannelOptions wrong_ca{"localhost:" + port,
                          (dir_ / "other/ca.pem").string()};
  EXPECT_EQ(Call(wrong_ca).error_code(), grpc::StatusCode::UNAVAILABLE);
  ChannelOptions wrong_name = good;
  wrong_name.tls_server_name = "not-this-server.example";
  EXPECT_EQ(Call(wrong_name).error_code(), grpc::StatusCode::UNAVAILABLE);
  ChannelOptions plaintext{"localhost:" + port};
  EXPECT_EQ(Call(plaintext).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  std::unique_ptr<SchedulerServer> server = Start(/*mutual=*/true);
  ASSERT_NE(server, nullptr);
  const std::string address = "localhost:" + std::to_string(server->port());
  const std::string ca = (dir_ / "lab/ca.pem").string();
  EXPECT_EQ(Call({address, ca}).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call({address, ca, (dir_ / "other/client.pem").string(),
                  (dir_ / "other/client.key").string()})
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(Call({address, ca, (dir_ / "lab/client.pem").string(),
                    (dir_ / "lab/client.key").string()})
                  .ok());
}

TEST_F(TlsTest, BadCertificateFilesAreNamed) {
  SchedulerServer::Options options;
  options.listen = "127.0.0.1:0";
  options.db_path = (dir_ / "forgetlab.db").string();
  options.tls_cert_file = (dir_ / "lab/missing.pem").string();
  options.tls_key_file = (dir_ / "lab/server.key").string();
  auto server = SchedulerServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("--tls_cert: cannot read"));
  options.tls_key_file.clear();
  server = SchedulerServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("together"));
}

TEST(SafeDefaultTest, NetworkListenNeedsTlsAndTokens) {
  const fs::path dir = TestDir();
  MakeCerts(dir);
  const std::string tokens = (dir / "tokens").string();
  ASSERT_TRUE(AddToken(tokens, Role::kAdmin, "root").ok());
  SchedulerServer::Options options;
  options.listen = "0.0.0.0:0";
  options.db_path = (dir / "forgetlab.db").string();
  auto server = SchedulerServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("--tls_cert/--tls_key"));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("--tokens_file"));
  // Tokens without TLS would send them in the clear: still refused.
  options.tokens_file = tokens;
  EXPECT_FALSE(SchedulerServer::Start(options).ok());
  options.tls_cert_file = (dir / "server.pem").string();
  options.tls_key_file = (dir / "server.key").string();
  server = SchedulerServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->Shutdown();
  // The escape hatch works, loudly.
  SchedulerServer::Options insecure;
  insecure.listen = "0.0.0.0:0";
  insecure.db_path = (dir / "insecure.db").string();
  insecure.allow_insecure = true;
  server = SchedulerServer::Start(insecure);
  ASSERT_TRUE(server.ok()) << server.status();

  EXPECT_TRUE(IsLoopbackAddress("localhost:1"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:0"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.5:50051"));
}

TEST(SafeDefaultTest, ServerBinaryExitsNonZeroOnInsecureNetworkListen) {
  const fs::path dir = TestDir();
  const std::string command = absl::StrCat(
      FORGETLAB_SERVER_BIN,
      " --listen=0.0.0.0:0 --db=", (dir / "x.db").string(), " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_THAT(output, HasSubstr("--tls_cert"));
  EXPECT_THAT(output, HasSubstr("--tokens_file"));
}

TEST(SafeDefaultTest, TokensAddPrintsTheTokenAndStoresItsHash) {
  const fs::path dir = TestDir();
  const std::string file = (dir / "tokens").string();
  const std::string command = absl::StrCat(
      FORGETLAB_SERVER_BIN,
      " tokens add --role=worker --name=gpu-node-1 --tokens_file=", file,
      " 2>/dev/null");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string last;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) last = buffer;
  ASSERT_EQ(pclose(pipe), 0);
  while (!last.empty() && last.back() == '\n') last.pop_back();
  EXPECT_THAT(last, testing::StartsWith("flt_"));
  EXPECT_THAT(ReadFile(file), Not(HasSubstr(last)));
  absl::StatusOr<TokenSet> set = TokenSet::Load(file);
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(set->Find(last).has_value());
  EXPECT_EQ(set->Find(last)->name, "gpu-node-1");
  EXPECT_EQ(set->Find(last)->role, Role::kWorker);
}

}  // namespace
}  // namespace forgetlab
