// Fixtures shared by the unit tests: a temporary database per test, small
// sweeps on the synthetic set, and waiting for a condition or an
// asynchronous answer instead of sleeping.
#ifndef FORGETLAB_TESTS_FIXTURES_H_
#define FORGETLAB_TESTS_FIXTURES_H_

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "forgetlab/v1/forgetlab.pb.h"

namespace forgetlab::fixtures {

// A database file of its own for the current test, in the test temporary
// folder; any file of that name (and its WAL) is removed first and after.
class TempDatabase {
 public:
  TempDatabase();
  ~TempDatabase();
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;

  const std::string& path() const { return path_; }

 private:
  void Remove() const;
  std::string path_;
};

// An empty folder of its own for the current test, named
// <prefix>_<test name> in the test temporary folder.
std::filesystem::path TestDir(const std::string& prefix);

// A SweepSpec from text format; a parse error fails the test.
v1::SweepSpec ParseSweep(const std::string& text);

// "small": model.width {16, 32} x seeds {0, 1} on the synthetic set, four
// jobs.
v1::SweepSpec SmallSweep();

// One job per seed 0..seeds-1 of the default model on the synthetic set.
v1::SweepSpec SyntheticSweep(int seeds);

// Calls `condition` until it is true or `timeout` passes; returns its last
// answer. For conditions no callback announces (another process, a
// server's state seen through its API).
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Starts an asynchronous call with `start(done)` and waits for its answer.
template <typename R, typename Start>
R Await(Start&& start) {
  R result{};
  absl::Notification answered;
  std::forward<Start>(start)([&result, &answered](R r) {
    result = std::move(r);
    answered.Notify();
  });
  answered.WaitForNotification();
  return result;
}

}  // namespace forgetlab::fixtures

#endif  // FORGETLAB_TESTS_FIXTURES_H_
