// The CLI's connection: errors come back as statuses (only main exits), and
// RunCli turns them into exit code 2 with a line naming the flag.
#include "client/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/cli.h"

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

TEST(ConnectionTest, UnreadableTokenFileIsAStatusNamingTheFlag) {
  ConnectionOptions options;
  options.token_file = "/nonexistent/forgetlab.token";
  absl::StatusOr<Connection> c = Connection::Open(options);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("--token_file: cannot read /nonexistent/"));
}

TEST(ConnectionTest, UnreadableCaCertIsAStatusNamingTheFlag) {
  ConnectionOptions options;
  options.ca_cert = "/nonexistent/ca.pem";
  absl::StatusOr<Connection> c = Connection::Open(options);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("--ca_cert"));
}

TEST(ConnectionTest, OpensLazilyWithoutAServer) {
  ConnectionOptions options;
  options.scheduler = "127.0.0.1:1";
  options.token = "t";
  absl::StatusOr<Connection> c = Connection::Open(options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->address(), "127.0.0.1:1");
  EXPECT_NE(c->stub(), nullptr);
}

// The CLI returns to its caller instead of exiting the process: this test
// goes on after the failure.
TEST(CliTest, ABadTokenFileIsExitCodeTwoNotAnExit) {
  std::vector<std::string> args = {"forgetlab", "--token_file=/nonexistent/t",
                                   "sweeps"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  testing::internal::CaptureStderr();
  const int code = RunCli(static_cast<int>(argv.size()), argv.data());
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 2);
  EXPECT_THAT(err, HasSubstr("forgetlab: --token_file: cannot read"));
}

}  // namespace
}  // namespace forgetlab
