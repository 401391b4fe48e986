// The shared unit-test fixtures.
#include "tests/fixtures.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"

namespace forgetlab::fixtures {
namespace {

std::string CurrentTestName() {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  return info == nullptr ? "no_test" : info->name();
}

}  // namespace

TempDatabase::TempDatabase()
    : path_((std::filesystem::path(::testing::TempDir()) /
             absl::StrCat(CurrentTestName(), ".db"))
                .string()) {
  Remove();
}

TempDatabase::~TempDatabase() { Remove(); }

void TempDatabase::Remove() const {
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) {
    std::error_code ignored;
    std::filesystem::remove(path_ + suffix, ignored);
  }
  std::error_code ignored;
  std::filesystem::remove_all(path_ + "-artifacts", ignored);
}

std::filesystem::path TestDir(const std::string& prefix) {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              absl::StrCat(prefix, "_", CurrentTestName());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

v1::SweepSpec ParseSweep(const std::string& text) {
  v1::SweepSpec sweep;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &sweep))
      << text;
  return sweep;
}

v1::SweepSpec SmallSweep() {
  return ParseSweep(R"pb(
    name: "small"
    base { data { dataset: "synthetic" } }
    axes {
      path: "model.width"
      values: [ 16, 32 ]
    }
    seeds: [ 0, 1 ]
  )pb");
}

v1::SweepSpec SyntheticSweep(int seeds) {
  v1::SweepSpec sweep = ParseSweep(R"pb(
    name: "small"
    base { data { dataset: "synthetic" } }
  )pb");
  for (int seed = 0; seed < seeds; ++seed) sweep.add_seeds(seed);
  return sweep;
}

bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace forgetlab::fixtures
