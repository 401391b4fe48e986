// Observability, end to end: the real server and worker with
// --metrics_listen and --health_listen, after a small sweep. Every series
// docs/DEPLOY.md lists must be served, with values that match the sweep.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/net/prometheus.h"
#include "tests/fixtures.h"
#include "tests/harness.h"

namespace forgetlab::e2e {
namespace {

using ::testing::HasSubstr;

// A port nobody listens on right now (the kernel's pick for port 0).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// Series name with labels -> value, from Prometheus text.
std::map<std::string, double> Scrape(int port) {
  std::map<std::string, double> series;
  auto got = metrics::HttpGet(port, "/metrics");
  EXPECT_TRUE(got.ok()) << got.status();
  if (!got.ok()) return series;
  EXPECT_EQ(got->first, 200);
  std::istringstream lines(got->second);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    series[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return series;
}

// The metric names in docs/DEPLOY.md's metrics tables (rows starting with
// | `forgetlab_...`).
std::set<std::string> DocumentedNames() {
  std::ifstream doc(std::string(FORGETLAB_SOURCE_DIR) + "/docs/DEPLOY.md");
  EXPECT_TRUE(doc.good()) << "docs/DEPLOY.md is missing";
  std::set<std::string> names;
  const std::regex row(R"(^\| `(forgetlab_[a-z0-9_]+))");
  std::string line;
  std::smatch m;
  while (std::getline(doc, line)) {
    if (std::regex_search(line, m, row)) names.insert(m[1]);
  }
  return names;
}

bool Serves(const std::map<std::string, double>& series,
            const std::string& name) {
  for (const auto& [key, value] : series) {
    if (key == name || key.rfind(name + "{", 0) == 0 ||
        key.rfind(name + "_bucket{", 0) == 0) {
      return true;
    }
  }
  return false;
}

constexpr char kSweep[] = R"pb(
  name: "metrics"
  base {
    data { dataset: "synthetic" }
    pretrain { steps: 40 batch_size: 32 }
    finetune { steps: 40 batch_size: 16 }
    eval { eval_every: 20 }
  }
  axes {
    path: "model.width"
    values: [ 16, 32 ]
  }
  seeds: [ 0, 1, 2 ]
)pb";

TEST(ObservabilityTest, MetricsAndHealthAfterASmallSweep) {
  Cluster cluster("observability");
  const int server_metrics = FreePort();
  const int worker_metrics = FreePort();
  const int worker_health = FreePort();
  const int server_health = FreePort();
  cluster.server_flags = {
      "--metrics_listen=127.0.0.1:" + std::to_string(server_metrics),
      "--health_listen=127.0.0.1:" + std::to_string(server_health)};
  cluster.worker_flags = {
      "--metrics_listen=127.0.0.1:" + std::to_string(worker_metrics),
      "--health_listen=127.0.0.1:" + std::to_string(worker_health)};
  ASSERT_TRUE(cluster.StartServer());
  auto worker = cluster.StartWorker("worker");

  Output submit =
      cluster.Cli({"submit", cluster.WriteFile("sweep.textproto", kSweep)});
  ASSERT_EQ(submit.code, 0) << submit.err;
  Output watch = cluster.Cli({"watch", LastLine(submit.out)});
  ASSERT_EQ(watch.code, 0) << watch.out << watch.err;

  std::map<std::string, double> server = Scrape(server_metrics);
  EXPECT_EQ(server["forgetlab_jobs{state=\"SUCCEEDED\"}"], 6);
  EXPECT_EQ(server["forgetlab_jobs{state=\"QUEUED\"}"], 0);
  EXPECT_EQ(server.count("forgetlab_jobs{state=\"FAILED\"}"), 1u);
  EXPECT_EQ(server["forgetlab_leases_active"], 0);
  EXPECT_EQ(server["forgetlab_lease_expiries_total"], 0);
  EXPECT_EQ(server["forgetlab_results_total"], 6);
  EXPECT_GT(server["forgetlab_results_per_second"], 0);
  EXPECT_EQ(server["forgetlab_workers_alive"], 1);
  EXPECT_EQ(
      server
          ["forgetlab_rpc_requests_total{method=\"SubmitSweep\",code=\"OK\"}"],
      1);
  EXPECT_EQ(
      server
          ["forgetlab_rpc_requests_total{method=\"CompleteJob\",code=\"OK\"}"],
      6);
  EXPECT_EQ(server["forgetlab_rpc_duration_seconds_bucket{method="
                   "\"CompleteJob\",le=\"+Inf\"}"],
            6);
  EXPECT_GE(server["forgetlab_rpc_duration_seconds_count{method=\"LeaseJob\"}"],
            6);

  std::map<std::string, double> worker_series = Scrape(worker_metrics);
  EXPECT_EQ(worker_series["forgetlab_worker_jobs_total{outcome=\"succeeded\"}"],
            6);
  EXPECT_EQ(worker_series["forgetlab_worker_jobs_total{outcome=\"failed\"}"],
            0);
  EXPECT_GT(worker_series["forgetlab_worker_samples_per_second"], 0);
  EXPECT_GT(worker_series["forgetlab_worker_samples_total"], 0);
  EXPECT_EQ(worker_series["forgetlab_worker_busy"], 0);
  EXPECT_EQ(worker_series["forgetlab_worker_connected"], 1);

  // Every documented series is served by one of the two.
  const std::set<std::string> documented = DocumentedNames();
  EXPECT_GE(documented.size(), 15u);
  for (const std::string& name : documented) {
    EXPECT_TRUE(Serves(server, name) || Serves(worker_series, name))
        << name << " is in docs/DEPLOY.md but not served";
  }

  // Health: the scheduler's (main port and plaintext health port), and the
  // worker's two services.
  Output health = cluster.Cli({"health"});
  EXPECT_EQ(health.code, 0) << health.err;
  EXPECT_THAT(health.out, HasSubstr("SERVING"));
  const std::string scheduler = cluster.address();
  cluster.set_address("127.0.0.1:" + std::to_string(server_health));
  health = cluster.Cli({"health", "--service=forgetlab.v1.WorkerService"});
  EXPECT_EQ(health.code, 0) << health.out << health.err;
  cluster.set_address("127.0.0.1:" + std::to_string(worker_health));
  health = cluster.Cli({"health", "--service=forgetlab.worker"});
  EXPECT_EQ(health.code, 0) << health.out << health.err;
  health = cluster.Cli({"health", "--service=other"});
  EXPECT_EQ(health.code, 1);

  // Without its scheduler the worker is alive but not ready.
  cluster.server()->Signal(SIGTERM);
  EXPECT_EQ(cluster.server()->Wait(std::chrono::seconds(10)), 0);
  cluster.DropServer();
  Output ready;
  EXPECT_TRUE(fixtures::WaitFor([&] {
    ready = cluster.Cli({"health", "--service=forgetlab.worker"});
    return ready.code == 1;
  }));
  EXPECT_THAT(ready.out, HasSubstr("NOT_SERVING"));
  EXPECT_EQ(cluster.Cli({"health"}).code, 0);  // "" : still live
  EXPECT_EQ(Scrape(worker_metrics)["forgetlab_worker_connected"], 0);
  cluster.set_address(scheduler);

  worker->Signal(SIGTERM);
  EXPECT_EQ(worker->Wait(std::chrono::seconds(10)), 0);
}

// Issue 16: idle connections that use up the open-file limit make gRPC's
// listener stop accepting for good. The server cannot take the call back,
// but it must say so: its health service turns NOT_SERVING, so that a
// supervisor (systemd, Kubernetes) restarts it.
TEST(ListenerTest, AFloodThatKillsTheListenerTurnsHealthNotServing) {
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || \
    __has_feature(undefined_behavior_sanitizer)
  // The sanitizers' own checks open descriptors (UBSan's vptr check probes
  // memory through a pipe): with none left they report errors that are not
  // there. The Release run covers this test.
  GTEST_SKIP() << "needs a build without sanitizers";
#endif
#endif
  const std::filesystem::path dir = fixtures::TestDir("flood");
  const int health_port = FreePort();
  const std::string port_file = (dir / "port").string();
  const std::string log = (dir / "server.log").string();
  // A hard limit of 64 open files, which the server cannot raise.
  Process server(
      {"/bin/sh", "-c",
       std::string("ulimit -n 64 && exec ") + FORGETLAB_SERVER_BIN +
           " --listen=127.0.0.1:0 --port_file=" + port_file +
           " --db=" + (dir / "db").string() +
           " --health_listen=127.0.0.1:" + std::to_string(health_port)},
      log);
  ASSERT_TRUE(fixtures::WaitFor([&] { return !ReadFile(port_file).empty(); },
                                std::chrono::seconds(10)))
      << ReadFile(log);
  const int port = std::stoi(ReadFile(port_file));
  // Connected before the flood, as a probe would be.
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(health_port),
                          grpc::InsecureChannelCredentials()));
  auto check = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status s = health->Check(&ctx, request, &response);
    return s.ok() ? response.status()
                  : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  };
  ASSERT_EQ(check(), grpc::health::v1::HealthCheckResponse::SERVING);

  // 100 connections that never say a word, then gone.
  std::vector<int> flood;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  for (int i = 0; i < 100; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    flood.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (int fd : flood) close(fd);

  EXPECT_TRUE(fixtures::WaitFor(
      [&] {
        return check() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
      },
      std::chrono::seconds(15)));
  EXPECT_THAT(ReadFile(log), HasSubstr("the gRPC listener stopped accepting"));
}

}  // namespace
}  // namespace forgetlab::e2e
