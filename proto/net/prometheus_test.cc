#include "proto/net/prometheus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace forgetlab::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RegistryTest, RendersPrometheusTextFormat) {
  Registry registry;
  registry.GetCounter("t_calls_total", "Calls.", {{"method", "A"}})->Add();
  registry.GetCounter("t_calls_total", "Calls.", {{"method", "A"}})->Add(2);
  registry.GetCounter("t_calls_total", "Calls.", {{"method", "B\"x"}})->Add();
  registry.GetGauge("t_depth", "Depth.")->Set(2.5);
  Histogram* h = registry.GetHistogram("t_seconds", "Latency.",
                                       {{"method", "A"}}, {0.1, 1});
  h->Observe(0.05);
  h->Observe(0.5);
  h->Observe(7);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP t_calls_total Calls.\n"
                              "# TYPE t_calls_total counter\n"
                              "t_calls_total{method=\"A\"} 3\n"
                              "t_calls_total{method=\"B\\\"x\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE t_depth gauge\nt_depth 2.5\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE t_seconds histogram\n"
                              "t_seconds_bucket{method=\"A\",le=\"0.1\"} 1\n"
                              "t_seconds_bucket{method=\"A\",le=\"1\"} 2\n"
                              "t_seconds_bucket{method=\"A\",le=\"+Inf\"} 3\n"
                              "t_seconds_sum{method=\"A\"} 7.55\n"
                              "t_seconds_count{method=\"A\"} 3\n"));
}

TEST(RegistryTest, CollectorsRunAtRenderAndInfoSeriesAreReplaced) {
  Registry registry;
  int renders = 0;
  Gauge* g = registry.GetGauge("t_renders", "Renders.");
  registry.AddCollector([&] { g->Set(++renders); });
  EXPECT_THAT(registry.Render(), HasSubstr("t_renders 1\n"));
  EXPECT_THAT(registry.Render(), HasSubstr("t_renders 2\n"));
  registry.SetInfo("t_job", "Job.", {{"job_id", "4"}});
  registry.SetInfo("t_job", "Job.", {{"job_id", "5"}});
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("t_job{job_id=\"5\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("job_id=\"4\"")));
  registry.SetInfo("t_job", "Job.", {});
  EXPECT_THAT(registry.Render(), Not(HasSubstr("t_job{")));
}

TEST(MetricsServerTest, ServesMetricsOverHttp) {
  Registry registry;
  registry.GetCounter("t_hits_total", "Hits.")->Add(41);
  auto server = MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto got = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->first, 200);
  EXPECT_THAT(got->second, HasSubstr("t_hits_total 41\n"));
  got = HttpGet((*server)->port(), "/other");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->first, 404);
}

// A client that trickles bytes holds neither other scrapes nor shutdown.
TEST(MetricsServerTest, ASlowClientBlocksNobody) {
  Registry registry;
  registry.GetGauge("forgetlab_test_up", "Test gauge.")->Set(1);
  auto server = MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  const int slow = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>((*server)->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      connect(slow, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(send(slow, "G", 1, 0), 1);  // and nothing more
  const auto start = std::chrono::steady_clock::now();
  auto got = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->first, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  const auto stop = std::chrono::steady_clock::now();
  server->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stop,
            std::chrono::milliseconds(500));
  close(slow);
}

TEST(MetricsServerTest, BadAddressesAreClearErrors) {
  Registry registry;
  auto server = MetricsServer::Start("127.0.0.1", &registry);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("--metrics_listen"));
  auto first = MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok());
  auto second = MetricsServer::Start(
      "127.0.0.1:" + std::to_string((*first)->port()), &registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace forgetlab::metrics
