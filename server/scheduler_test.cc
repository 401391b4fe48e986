#include "server/scheduler.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <thread>

#include "forgetlab/v1/forgetlab.grpc.pb.h"
#include "proto/net/prometheus.h"
#include "tests/fixtures.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using fixtures::SmallSweep;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer() {
    SchedulerServer::Options options;
    options.listen = "127.0.0.1:0";
    options.db_path = database_.path();
    options.lease_seconds = 30;
    options.now_ms = [this] { return now_.load(); };
    options.metrics_listen = metrics_listen_;
    auto server = SchedulerServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    client_ = v1::ForgetlabService::NewStub(channel_);
    worker_ = v1::WorkerService::NewStub(channel_);
  }

  // Calls `method` by name with an empty message; *response gets the
  // answer's bytes.
  grpc::Status CallWithEmptyRequest(const std::string& method,
                                    std::string* response) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext ctx;
    grpc::Slice empty_message{std::string()};
    grpc::ByteBuffer request(&empty_message, 1);
    grpc::ByteBuffer answer;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &answer,
                   [&](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status status = done.get_future().get();
    std::vector<grpc::Slice> slices;
    if (status.ok() && answer.Dump(&slices).ok()) {
      for (const auto& slice : slices) {
        response->append(reinterpret_cast<const char*>(slice.begin()),
                         slice.size());
      }
    }
    return status;
  }

  v1::SweepSpec Sweep(const std::string& text) {
    return fixtures::ParseSweep(text);
  }

  grpc::Status Submit(const v1::SweepSpec& sweep,
                      v1::SubmitSweepResponse* out) {
    grpc::ClientContext ctx;
    v1::SubmitSweepRequest request;
    *request.mutable_sweep() = sweep;
    return client_->SubmitSweep(&ctx, request, out);
  }

  std::string SubmitOk(const v1::SweepSpec& sweep) {
    v1::SubmitSweepResponse out;
    grpc::Status s = Submit(sweep, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.sweep_id();
  }

  std::string Register() {
    grpc::ClientContext ctx;
    v1::RegisterWorkerRequest request;
    request.set_host("test-host");
    request.set_device("cpu");
    v1::RegisterWorkerResponse response;
    EXPECT_TRUE(worker_->RegisterWorker(&ctx, request, &response).ok());
    EXPECT_EQ(response.lease_seconds(), 30);
    return response.worker_id();
  }

  v1::LeaseJobResponse Lease(const std::string& worker, int wait_seconds = 0) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(wait_seconds + 10));
    v1::LeaseJobRequest request;
    request.set_worker_id(worker);
    request.set_wait_seconds(wait_seconds);
    v1::LeaseJobResponse response;
    grpc::Status s = worker_->LeaseJob(&ctx, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  v1::JobResult Result(double a_after_a, double a_after_b) {
    v1::JobResult result;
    auto* r0 = result.add_accuracy_matrix();
    r0->add_accuracy(a_after_a);
    r0->add_accuracy(0.2);
    auto* r1 = result.add_accuracy_matrix();
    r1->add_accuracy(a_after_b);
    r1->add_accuracy(0.9);
    (*result.mutable_metrics())["forgetting"] = a_after_a - a_after_b;
    result.set_parameter_count(1000);
    result.set_device("cpu");
    return result;
  }

  grpc::Status Complete(const v1::LeaseJobResponse& lease,
                        const v1::JobResult& result) {
    grpc::ClientContext ctx;
    v1::CompleteJobRequest request;
    request.set_worker_id(lease.job().worker_id());
    request.set_job_id(lease.job().job_id());
    request.set_lease_token(lease.lease_token());
    *request.mutable_result() = result;
    v1::CompleteJobResponse response;
    return worker_->CompleteJob(&ctx, request, &response);
  }

  grpc::Status Heartbeat(const v1::LeaseJobResponse& lease,
                         v1::HeartbeatResponse* response) {
    grpc::ClientContext ctx;
    v1::HeartbeatRequest request;
    request.set_worker_id(lease.job().worker_id());
    request.set_job_id(lease.job().job_id());
    request.set_lease_token(lease.lease_token());
    request.mutable_progress()->set_phase("task:A");
    request.mutable_progress()->set_step(5);
    request.mutable_progress()->set_total_steps(600);
    return worker_->Heartbeat(&ctx, request, response);
  }

  v1::SweepStatus Status(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetSweepRequest request;
    request.set_sweep_id(id);
    v1::SweepStatus status;
    EXPECT_TRUE(client_->GetSweep(&ctx, request, &status).ok());
    return status;
  }

  fixtures::TempDatabase database_;
  std::atomic<int64_t> now_{1'700'000'000'000};
  std::string metrics_listen_;  // set before StartServer() for /metrics
  std::unique_ptr<SchedulerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ForgetlabService::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
};

TEST_F(SchedulerTest, SubmitExpandsAndCounts) {
  v1::SubmitSweepResponse out;
  ASSERT_TRUE(Submit(SmallSweep(), &out).ok());
  EXPECT_EQ(out.jobs(), 4);
  v1::SweepStatus status = Status(out.sweep_id());
  EXPECT_EQ(status.total(), 4);
  EXPECT_EQ(status.queued(), 4);
  EXPECT_EQ(status.state(), "RUNNING");
  EXPECT_EQ(status.name(), "small");

  grpc::ClientContext ctx;
  v1::ListJobsRequest request;
  request.set_sweep_id(out.sweep_id());
  v1::ListJobsResponse jobs;
  ASSERT_TRUE(client_->ListJobs(&ctx, request, &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 4);
  // Queued largest first, in grid order among equals: width 32 (seeds 0,
  // 1), then width 16.
  EXPECT_EQ(jobs.jobs(0).axis_values().at("model.width"), 32);
  EXPECT_EQ(jobs.jobs(0).axis_values().at("seed"), 0);
  EXPECT_EQ(jobs.jobs(1).axis_values().at("seed"), 1);
  EXPECT_EQ(jobs.jobs(3).axis_values().at("model.width"), 16);
  EXPECT_EQ(jobs.jobs(3).axis_values().at("seed"), 1);
  EXPECT_EQ(jobs.jobs(0).spec().model().width(), 32);
  EXPECT_EQ(jobs.jobs(3).spec().finetune().steps(), 300);  // resolved
}

TEST_F(SchedulerTest, BadSweepIsRejectedNamingTheFieldAndStoresNothing) {
  v1::SubmitSweepResponse out;
  grpc::Status s = Submit(Sweep(R"pb(axes {
                                       path: "model.width"
                                       values: [ 0 ]
                                     })pb"),
                          &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("model.width must be between 1 and 8192"));
  s = Submit(Sweep(R"pb(base { data { dataset: "imagenet" } })pb"), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("sweep.base.data.dataset"));

  grpc::ClientContext ctx;
  v1::ListSweepsResponse sweeps;
  ASSERT_TRUE(client_->ListSweeps(&ctx, v1::ListSweepsRequest(), &sweeps).ok());
  EXPECT_EQ(sweeps.sweeps_size(), 0);
}

TEST_F(SchedulerTest, SameRequestIdReturnsTheSameSweep) {
  v1::SweepSpec sweep = SmallSweep();
  sweep.set_request_id("r-42");
  v1::SubmitSweepResponse first, second;
  ASSERT_TRUE(Submit(sweep, &first).ok());
  ASSERT_TRUE(Submit(sweep, &second).ok());
  EXPECT_EQ(first.sweep_id(), second.sweep_id());
  EXPECT_TRUE(second.existing());
  EXPECT_EQ(Status(first.sweep_id()).total(), 4);
}

TEST_F(SchedulerTest, WorkerLifecycleAndTable) {
  const std::string id = SubmitOk(SmallSweep());
  const std::string worker = Register();
  for (int i = 0; i < 4; ++i) {
    v1::LeaseJobResponse lease = Lease(worker);
    ASSERT_TRUE(lease.has_job());
    EXPECT_EQ(lease.job().attempt(), 1);
    v1::HeartbeatResponse hb;
    ASSERT_TRUE(Heartbeat(lease, &hb).ok());
    EXPECT_FALSE(hb.cancel());
    const double width = lease.job().axis_values().at("model.width");
    const double seed = lease.job().axis_values().at("seed");
    // forgetting = 0.1 (width 16) or 0.3 (width 32), +0.02 for seed 1.
    ASSERT_TRUE(Complete(lease, Result(0.9, 0.9 - (width == 16 ? 0.1 : 0.3) -
                                                0.02 * seed))
                    .ok());
  }
  EXPECT_FALSE(Lease(worker).has_job());
  v1::SweepStatus status = Status(id);
  EXPECT_EQ(status.succeeded(), 4);
  EXPECT_EQ(status.state(), "DONE");

  grpc::ClientContext ctx;
  v1::QueryTableRequest request;
  request.add_sweep_ids(id);
  v1::Table table;
  ASSERT_TRUE(client_->QueryTable(&ctx, request, &table).ok());
  EXPECT_EQ(table.metric(), "forgetting");
  EXPECT_EQ(table.row_axis(), "model.width");
  EXPECT_EQ(table.col_axis(), "pretrain.examples");
  ASSERT_EQ(table.rows_size(), 2);
  EXPECT_EQ(table.rows(0).value(), 16);
  EXPECT_EQ(table.rows(0).parameter_count(), 1000);
  ASSERT_EQ(table.cols_size(), 1);
  EXPECT_EQ(table.cols(0), 0);  // pretrain.examples is not an axis: base value
  ASSERT_EQ(table.cells_size(), 2);
  EXPECT_EQ(table.cells(1).n(), 2);
  EXPECT_NEAR(table.cells(1).mean(), 0.31, 1e-9);
  EXPECT_NEAR(table.cells(1).min(), 0.30, 1e-9);
  EXPECT_NEAR(table.cells(1).max(), 0.32, 1e-9);
  // std of {0.30, 0.32} = 0.01414; sem = 0.01; t(1) = 12.706.
  EXPECT_NEAR(table.cells(1).ci95_high() - table.cells(1).mean(), 0.127062,
              1e-5);

  grpc::ClientContext misspelt_ctx;
  request.set_metric("forgeting");
  grpc::Status misspelt = client_->QueryTable(&misspelt_ctx, request, &table);
  EXPECT_EQ(misspelt.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(
      misspelt.error_message(),
      HasSubstr("no stored metric 'forgeting'; these sweeps have: forgetting"));

  grpc::ClientContext workers_ctx;
  v1::ListWorkersResponse workers;
  ASSERT_TRUE(
      client_->ListWorkers(&workers_ctx, v1::ListWorkersRequest(), &workers)
          .ok());
  ASSERT_EQ(workers.workers_size(), 1);
  EXPECT_EQ(workers.workers(0).host(), "test-host");
  EXPECT_FALSE(workers.workers(0).lost());
}

TEST_F(SchedulerTest, TableCountsAnExperimentOnceAndSaysWhatItPooled) {
  // Two depths, two widths, two seeds; forgetting = 0.1 x depth + seed / 100
  // and 1000 x depth parameters.
  const std::string first = SubmitOk(Sweep(R"pb(
    name: "depths"
    base { data { dataset: "synthetic" } }
    axes {
      path: "model.width"
      values: [ 16, 32 ]
    }
    axes {
      path: "model.depth"
      values: [ 1, 2 ]
    }
    seeds: [ 0, 1 ]
  )pb"));
  const std::string worker = Register();
  for (int i = 0; i < 8; ++i) {
    v1::LeaseJobResponse lease = Lease(worker);
    ASSERT_TRUE(lease.has_job());
    const double depth = lease.job().axis_values().at("model.depth");
    const double seed = lease.job().axis_values().at("seed");
    v1::JobResult result = Result(0.9, 0.9 - 0.1 * depth - seed / 100);
    result.set_parameter_count(static_cast<int64_t>(1000 * depth));
    ASSERT_TRUE(Complete(lease, result).ok());
  }
  // The same sweep again is served from the cache: the same experiments.
  v1::SweepSpec again = Sweep(R"pb(
    name: "depth 1 again"
    base {
      data { dataset: "synthetic" }
      model { depth: 1 }
    }
    axes {
      path: "model.width"
      values: [ 16, 32 ]
    }
    seeds: [ 0, 1 ]
  )pb");
  v1::SubmitSweepResponse cached;
  ASSERT_TRUE(Submit(again, &cached).ok());
  EXPECT_EQ(cached.cached(), 4);

  auto query = [&](const std::vector<std::string>& ids,
                   const std::vector<std::pair<std::string, double>>& where,
                   v1::Table* table) {
    grpc::ClientContext ctx;
    v1::QueryTableRequest request;
    for (const std::string& id : ids) request.add_sweep_ids(id);
    for (const auto& [path, value] : where) {
      v1::AxisFilter* filter = request.add_where();
      filter->set_path(path);
      filter->set_value(value);
    }
    return client_->QueryTable(&ctx, request, table);
  };
  v1::Table table;
  ASSERT_TRUE(query({first, cached.sweep_id()}, {}, &table).ok());
  EXPECT_EQ(table.duplicates_dropped(), 4);
  ASSERT_EQ(table.cells_size(), 2);
  EXPECT_EQ(table.cells(0).n(), 4);  // 2 depths x 2 seeds, each once
  ASSERT_EQ(table.pooled_over_size(), 1);
  EXPECT_EQ(table.pooled_over(0).path(), "model.depth");
  EXPECT_THAT(table.pooled_over(0).values(), ::testing::ElementsAre("1", "2"));
  // Two model sizes in one row: no single parameter count.
  EXPECT_EQ(table.rows(0).parameter_count_min(), 1000);
  EXPECT_EQ(table.rows(0).parameter_count_max(), 2000);

  // Fixing the depth leaves nothing pooled, and one size per row.
  ASSERT_TRUE(
      query({cached.sweep_id(), first}, {{"model.depth", 1}}, &table).ok());
  EXPECT_EQ(table.pooled_over_size(), 0);
  EXPECT_EQ(table.duplicates_dropped(), 4);
  EXPECT_EQ(table.cells(0).n(), 2);
  EXPECT_NEAR(table.cells(0).mean(), 0.105, 1e-9);
  EXPECT_EQ(table.rows(0).parameter_count_min(),
            table.rows(0).parameter_count_max());

  // One sweep alone drops nothing.
  ASSERT_TRUE(query({first}, {}, &table).ok());
  EXPECT_EQ(table.duplicates_dropped(), 0);
  EXPECT_EQ(table.cells(0).n(), 4);

  // A filter that matches nothing is an error that says what there is.
  grpc::Status none = query({first}, {{"model.depth", 3}}, &table);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(none.error_message(),
              HasSubstr("no result matches model.depth=3"));
  EXPECT_THAT(none.error_message(), HasSubstr("model.depth in {1, 2}"));

  grpc::ClientContext same_ctx;
  v1::QueryTableRequest same;
  same.add_sweep_ids(first);
  same.set_row_axis("model.depth");
  same.set_col_axis("model.depth");
  grpc::Status s = client_->QueryTable(&same_ctx, same, &table);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("col_axis"));
}

TEST_F(SchedulerTest, SweepsNoWorkerCanTakeSayWhyTheyWait) {
  auto submit = [&](const std::string& text) {
    v1::SubmitSweepResponse out;
    EXPECT_TRUE(Submit(Sweep(text), &out).ok());
    return out;
  };
  // No worker at all.
  v1::SubmitSweepResponse first = submit(R"pb(
    base { data { dataset: "synthetic" } }
  )pb");
  ASSERT_EQ(first.warnings_size(), 1);
  EXPECT_THAT(first.warnings(0), HasSubstr("no live worker is connected"));

  // A worker that offers synthetic data only, on a CPU.
  grpc::ClientContext ctx;
  v1::RegisterWorkerRequest request;
  request.set_host("cpu-box");
  request.set_device("cpu");
  request.set_threads(2);
  request.add_datasets("synthetic");
  v1::RegisterWorkerResponse registered;
  ASSERT_TRUE(worker_->RegisterWorker(&ctx, request, &registered).ok());
  EXPECT_EQ(
      submit(R"pb(base { data { dataset: "synthetic" } })pb").warnings_size(),
      0);
  v1::SubmitSweepResponse idx = submit(R"pb(
    base { data { dataset: "idx" path: "/usr/share/datasets" } }
  )pb");
  ASSERT_EQ(idx.warnings_size(), 1);
  EXPECT_THAT(idx.warnings(0),
              HasSubstr("1 job(s) will wait: no live worker offers dataset "
                        "idx"));
  EXPECT_EQ(Status(idx.sweep_id()).waiting(),
            "no live worker offers dataset idx");
  v1::SubmitSweepResponse cuda = submit(R"pb(
    base { data { dataset: "synthetic" } }
    device_kind: "cuda"
  )pb");
  EXPECT_EQ(Status(cuda.sweep_id()).waiting(),
            "no live worker offers dataset synthetic on a cuda device");
  {
    grpc::ClientContext jobs_ctx;
    v1::ListJobsRequest list;
    list.set_sweep_id(idx.sweep_id());
    v1::ListJobsResponse jobs;
    ASSERT_TRUE(client_->ListJobs(&jobs_ctx, list, &jobs).ok());
    EXPECT_EQ(jobs.waiting(), "no live worker offers dataset idx");
  }
  {
    grpc::ClientContext workers_ctx;
    v1::ListWorkersResponse workers;
    ASSERT_TRUE(
        client_->ListWorkers(&workers_ctx, v1::ListWorkersRequest(), &workers)
            .ok());
    ASSERT_EQ(workers.workers_size(), 1);
    EXPECT_THAT(workers.workers(0).datasets(),
                ::testing::ElementsAre("synthetic"));
    EXPECT_EQ(workers.workers(0).threads(), 2);
  }
  // Once the worker falls silent for a lease period, none is live.
  now_ += 31'000;
  EXPECT_THAT(Status(idx.sweep_id()).waiting(),
              HasSubstr("no live worker is connected"));
}

TEST_F(SchedulerTest, ListsAndTablesStaySmall) {
  v1::SweepSpec sweep = SmallSweep();
  sweep.set_name(std::string(200, 'n'));
  const std::string id = SubmitOk(sweep);
  // Lists carry no spec (GetSweep does).
  grpc::ClientContext list_ctx;
  v1::ListSweepsResponse sweeps;
  ASSERT_TRUE(
      client_->ListSweeps(&list_ctx, v1::ListSweepsRequest(), &sweeps).ok());
  ASSERT_EQ(sweeps.sweeps_size(), 1);
  EXPECT_FALSE(sweeps.sweeps(0).has_spec());
  EXPECT_TRUE(Status(id).has_spec());
  // A table names each sweep once, and at most 100 of them.
  auto query = [&](int copies) {
    grpc::ClientContext ctx;
    v1::QueryTableRequest request;
    for (int i = 0; i < copies; ++i) request.add_sweep_ids(id);
    v1::Table table;
    return client_->QueryTable(&ctx, request, &table);
  };
  grpc::Status twice = query(2);
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(twice.error_message(), HasSubstr("named twice"));
  grpc::Status many = query(30000);
  EXPECT_EQ(many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(many.error_message(), HasSubstr("at most 100"));
}

TEST_F(SchedulerTest, DeletingASweepKeepsOtherSweepsCachedResults) {
  const std::string first = SubmitOk(SmallSweep());
  auto remove = [&](const std::string& id, v1::DeleteSweepResponse* out) {
    grpc::ClientContext ctx;
    v1::DeleteSweepRequest request;
    request.set_sweep_id(id);
    return client_->DeleteSweep(&ctx, request, out);
  };
  v1::DeleteSweepResponse deleted;
  grpc::Status running = remove(first, &deleted);
  EXPECT_EQ(running.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(running.error_message(), HasSubstr("forgetlab cancel"));
  const std::string worker = Register();
  for (int i = 0; i < 4; ++i) {
    v1::LeaseJobResponse lease = Lease(worker);
    ASSERT_TRUE(Complete(lease, Result(0.9, 0.8)).ok());
  }
  v1::SweepSpec again = SmallSweep();
  again.set_name("again");
  v1::SubmitSweepResponse copy;
  ASSERT_TRUE(Submit(again, &copy).ok());
  ASSERT_EQ(copy.cached(), 4);

  ASSERT_TRUE(remove(first, &deleted).ok());
  EXPECT_EQ(deleted.jobs(), 4);
  EXPECT_EQ(deleted.results(), 4);
  grpc::ClientContext get_ctx;
  v1::GetSweepRequest get;
  get.set_sweep_id(first);
  v1::SweepStatus gone;
  EXPECT_EQ(client_->GetSweep(&get_ctx, get, &gone).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // The copy keeps its results.
  grpc::ClientContext table_ctx;
  v1::QueryTableRequest query;
  query.add_sweep_ids(copy.sweep_id());
  v1::Table table;
  ASSERT_TRUE(client_->QueryTable(&table_ctx, query, &table).ok());
  ASSERT_EQ(table.cells_size(), 2);
  EXPECT_EQ(table.cells(0).n(), 2);
}

TEST_F(SchedulerTest, ResultsAreValidatedAndTokensFenced) {
  SubmitOk(SmallSweep());
  const std::string worker = Register();
  v1::LeaseJobResponse lease = Lease(worker);
  v1::JobResult bad = Result(0.9, 0.8);
  bad.mutable_accuracy_matrix(1)->set_accuracy(0, 1.5);
  grpc::Status s = Complete(lease, bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("accuracy_matrix[1][0]"));
  bad = Result(0.9, 0.8);
  bad.mutable_accuracy_matrix()->RemoveLast();
  EXPECT_EQ(Complete(lease, bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Timings must be finite (a NaN once reached SQLite as INTERNAL), and a
  // result holds a bounded number of metrics.
  bad = Result(0.9, 0.8);
  bad.set_total_seconds(std::nan(""));
  s = Complete(lease, bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("result.total_seconds"));
  bad = Result(0.9, 0.8);
  for (int i = 0; i < 65; ++i) {
    (*bad.mutable_metrics())[absl::StrCat("m", i)] = i;
  }
  s = Complete(lease, bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("result.metrics has"));

  v1::LeaseJobResponse stale = lease;
  stale.set_lease_token(std::string(32, '0'));
  EXPECT_EQ(Complete(stale, Result(0.9, 0.8)).error_code(),
            grpc::StatusCode::ABORTED);
  ASSERT_TRUE(Complete(lease, Result(0.9, 0.8)).ok());
  ASSERT_TRUE(Complete(lease, Result(0.9, 0.8)).ok());  // idempotent retry
}

TEST_F(SchedulerTest, LongPollWakesWhenWorkArrives) {
  const std::string worker = Register();
  auto start = std::chrono::steady_clock::now();
  auto waiting =
      std::async(std::launch::async, [&] { return Lease(worker, 20); });
  // The poll found nothing and waits in the dispatcher.
  ASSERT_TRUE(
      fixtures::WaitFor([&] { return server_->open_long_polls() == 1; }));
  SubmitOk(SmallSweep());
  v1::LeaseJobResponse lease = waiting.get();
  EXPECT_TRUE(lease.has_job());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(SchedulerTest, LongPollAnswersEmptyAtItsDeadline) {
  const std::string worker = Register();
  auto start = std::chrono::steady_clock::now();
  v1::LeaseJobResponse lease = Lease(worker, 1);
  EXPECT_FALSE(lease.has_job());
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(900));
}

TEST_F(SchedulerTest, ExpiredLeaseGoesBackToTheQueue) {
  SubmitOk(Sweep(R"pb(base { data { dataset: "synthetic" } })pb"));
  const std::string a = Register();
  const std::string b = Register();
  v1::LeaseJobResponse first = Lease(a);
  ASSERT_TRUE(first.has_job());
  now_ += 31'000;
  server_->ExpireLeasesNow();
  v1::LeaseJobResponse second = Lease(b);
  ASSERT_TRUE(second.has_job());
  EXPECT_EQ(second.job().job_id(), first.job().job_id());
  EXPECT_EQ(second.job().attempt(), 2);
  v1::HeartbeatResponse hb;
  EXPECT_EQ(Heartbeat(first, &hb).error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(Complete(first, Result(0.9, 0.8)).error_code(),
            grpc::StatusCode::ABORTED);
  EXPECT_TRUE(Complete(second, Result(0.9, 0.8)).ok());
}

TEST_F(SchedulerTest, WatchStreamsUntilTheSweepIsDone) {
  const std::string id = SubmitOk(SmallSweep());
  grpc::ClientContext ctx;
  v1::WatchSweepRequest request;
  request.set_sweep_id(id);
  auto reader = client_->WatchSweep(&ctx, request);
  v1::SweepEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.status().queued(), 4);
  auto work = std::async(std::launch::async, [&] {
    const std::string worker = Register();
    for (int i = 0; i < 4; ++i) {
      v1::LeaseJobResponse lease = Lease(worker);
      ASSERT_TRUE(Complete(lease, Result(0.9, 0.7)).ok());
    }
  });
  int events = 1;
  v1::SweepEvent last = event;
  while (reader->Read(&event)) {
    ++events;
    last = event;
  }
  work.get();
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_GT(events, 1);
  EXPECT_EQ(last.status().state(), "DONE");
  EXPECT_EQ(last.status().succeeded(), 4);
}

// The watch hub under load: watchers come and go while two workers finish
// the sweep. Every stream that stays sees the sweep done; the one that
// leaves ends CANCELLED. (Abseil's lock-order check is on in tests.)
TEST_F(SchedulerTest, ManyWatchersSeeTheSweepDoneWhileOneLeaves) {
  const std::string id = SubmitOk(SmallSweep());
  constexpr int kWatchers = 8;
  std::atomic<int> started{0};
  auto watch = [&](bool leave_early) {
    grpc::ClientContext ctx;
    v1::WatchSweepRequest request;
    request.set_sweep_id(id);
    auto reader = client_->WatchSweep(&ctx, request);
    v1::SweepEvent event;
    v1::SweepStatus last;
    if (reader->Read(&event)) last = event.status();
    ++started;
    if (leave_early) ctx.TryCancel();
    while (reader->Read(&event)) last = event.status();
    return std::make_pair(reader->Finish().error_code(), last);
  };
  std::vector<std::future<std::pair<grpc::StatusCode, v1::SweepStatus>>>
      watches;
  for (int i = 0; i < kWatchers; ++i) {
    watches.push_back(std::async(std::launch::async, watch, i == 0));
  }
  ASSERT_TRUE(fixtures::WaitFor([&] { return started == kWatchers; }));
  auto work = [&] {
    const std::string worker = Register();
    for (;;) {
      v1::LeaseJobResponse lease = Lease(worker);
      if (!lease.has_job()) return;
      EXPECT_TRUE(Complete(lease, Result(0.9, 0.7)).ok());
    }
  };
  auto a = std::async(std::launch::async, work);
  auto b = std::async(std::launch::async, work);
  a.get();
  b.get();
  for (int i = 0; i < kWatchers; ++i) {
    auto [code, last] = watches[i].get();
    if (i == 0) {
      EXPECT_EQ(code, grpc::StatusCode::CANCELLED);
      continue;
    }
    EXPECT_EQ(code, grpc::StatusCode::OK) << "watcher " << i;
    EXPECT_EQ(last.state(), "DONE") << "watcher " << i;
    EXPECT_EQ(last.succeeded(), 4) << "watcher " << i;
  }
}

TEST_F(SchedulerTest, WatchOfAFinishedSweepSendsOneEventAndEnds) {
  const std::string id =
      SubmitOk(Sweep(R"pb(base { data { dataset: "synthetic" } })pb"));
  v1::LeaseJobResponse lease = Lease(Register());
  ASSERT_TRUE(Complete(lease, Result(0.9, 0.8)).ok());
  grpc::ClientContext ctx;
  v1::WatchSweepRequest request;
  request.set_sweep_id(id);
  auto reader = client_->WatchSweep(&ctx, request);
  v1::SweepEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.status().state(), "DONE");
  EXPECT_EQ(event.status().succeeded(), 1);
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(SchedulerTest, WatchUnknownSweepIsNotFound) {
  grpc::ClientContext ctx;
  v1::WatchSweepRequest request;
  request.set_sweep_id("sw-missing");
  auto reader = client_->WatchSweep(&ctx, request);
  v1::SweepEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SchedulerTest, CancelReachesLeasedJobsThroughHeartbeats) {
  const std::string id = SubmitOk(SmallSweep());
  const std::string worker = Register();
  v1::LeaseJobResponse lease = Lease(worker);
  grpc::ClientContext ctx;
  v1::CancelSweepRequest request;
  request.set_sweep_id(id);
  v1::CancelSweepResponse response;
  ASSERT_TRUE(client_->CancelSweep(&ctx, request, &response).ok());
  EXPECT_EQ(response.cancelled(), 3);
  EXPECT_EQ(response.stopping(), 1);
  v1::HeartbeatResponse hb;
  ASSERT_TRUE(Heartbeat(lease, &hb).ok());
  EXPECT_TRUE(hb.cancel());
  grpc::ClientContext fail_ctx;
  v1::FailJobRequest fail;
  fail.set_worker_id(lease.job().worker_id());
  fail.set_job_id(lease.job().job_id());
  fail.set_lease_token(lease.lease_token());
  fail.set_error("cancelled");
  v1::FailJobResponse fail_response;
  ASSERT_TRUE(worker_->FailJob(&fail_ctx, fail, &fail_response).ok());
  EXPECT_EQ(Status(id).cancelled(), 4);
}

TEST_F(SchedulerTest, RestartKeepsQueueAndLeases) {
  const std::string id = SubmitOk(SmallSweep());
  const std::string worker = Register();
  v1::LeaseJobResponse lease = Lease(worker);
  server_.reset();  // the process is gone; only the database remains
  StartServer();
  v1::SweepStatus status = Status(id);
  EXPECT_EQ(status.queued(), 3);
  EXPECT_EQ(status.leased(), 1);
  v1::HeartbeatResponse hb;
  ASSERT_TRUE(Heartbeat(lease, &hb).ok());
  ASSERT_TRUE(Complete(lease, Result(0.9, 0.8)).ok());
  EXPECT_EQ(Status(id).succeeded(), 1);
}

// An LM job reads several text domains; only a worker that offers every
// one of them may lease it, and the sweep says which it waits for.
TEST_F(SchedulerTest, AnLmJobGoesOnlyToAWorkerWithEveryTextDomain) {
  auto register_with = [&](std::vector<std::string> datasets) {
    grpc::ClientContext ctx;
    v1::RegisterWorkerRequest request;
    request.set_host("text-box");
    request.set_device("cpu");
    for (const std::string& d : datasets) request.add_datasets(d);
    v1::RegisterWorkerResponse response;
    EXPECT_TRUE(worker_->RegisterWorker(&ctx, request, &response).ok());
    return response.worker_id();
  };
  const std::string partial =
      register_with({"synthetic", "text:prose", "text:code"});
  const std::string id = SubmitOk(Sweep(R"pb(
    base { model { family: LM } }
    axes {
      path: "model.dim"
      values: [ 16, 32 ]
    }
  )pb"));
  EXPECT_FALSE(Lease(partial).has_job());
  EXPECT_EQ(Status(id).waiting(),
            "no live worker offers datasets "
            "text:dictionary,text:prose,text:code");
  const std::string full =
      register_with({"text:code", "text:dictionary", "text:prose"});
  v1::LeaseJobResponse lease = Lease(full);
  ASSERT_TRUE(lease.has_job());
  EXPECT_EQ(lease.job().spec().model().family(), v1::ModelSpec::LM);
  EXPECT_EQ(lease.job().spec().tasks(1).domain(), "code");
  EXPECT_EQ(Status(id).waiting(), "");
  // A table without --rows takes the sweep's model-scale axis.
  ASSERT_TRUE(Complete(lease, Result(0.9, 0.8)).ok());
  grpc::ClientContext ctx;
  v1::QueryTableRequest request;
  request.add_sweep_ids(id);
  v1::Table table;
  ASSERT_TRUE(client_->QueryTable(&ctx, request, &table).ok());
  EXPECT_EQ(table.row_axis(), "model.dim");
}

TEST_F(SchedulerTest, MetricsCountExpiredLeasesCallsAndOtherMethods) {
  server_.reset();
  metrics_listen_ = "127.0.0.1:0";
  StartServer();
  ASSERT_GT(server_->metrics_port(), 0);
  SubmitOk(Sweep(R"pb(base { data { dataset: "synthetic" } })pb"));
  v1::LeaseJobResponse first = Lease(Register());
  ASSERT_TRUE(first.has_job());
  now_ += 31'000;  // past the 30 s lease, and past the worker's last call
  server_->ExpireLeasesNow();
  // A method this server does not have is counted as "other".
  std::string ignored;
  EXPECT_EQ(CallWithEmptyRequest("/made.Up/Name", &ignored).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  auto got = metrics::HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(got.ok()) << got.status();
  const std::string& text = got->second;
  EXPECT_THAT(text, HasSubstr("forgetlab_lease_expiries_total 1\n"));
  EXPECT_THAT(text, HasSubstr("forgetlab_jobs{state=\"QUEUED\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("forgetlab_leases_active 0\n"));
  EXPECT_THAT(text, HasSubstr("forgetlab_workers_alive 0\n"));
  EXPECT_THAT(text, HasSubstr("forgetlab_rpc_requests_total{method="
                              "\"LeaseJob\",code=\"OK\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("forgetlab_rpc_requests_total{method="
                              "\"other\",code=\"UNIMPLEMENTED\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("made.Up")));
}

TEST_F(SchedulerTest, HealthServiceServes) {
  // grpc.health.v1.Health/Check with an empty request (all services); the
  // answer is HealthCheckResponse{status: SERVING = 1}, bytes 08 01.
  std::string bytes;
  ASSERT_TRUE(
      CallWithEmptyRequest("/grpc.health.v1.Health/Check", &bytes).ok());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

}  // namespace
}  // namespace forgetlab
