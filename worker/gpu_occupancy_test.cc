// The GPU's jobs-at-once hill climb, driven by throughputs given per count.
#include "worker/gpu_occupancy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

namespace forgetlab {
namespace {

// Drives an Occupancy as a worker's slots would: keeps exactly `limit()`
// jobs entered and reports, once a second, the FLOPs a device delivering
// `tflops[k]` with k jobs does. Returns the limits seen after each window.
class Device {
 public:
  Device(Occupancy* occupancy, std::map<int, double> tflops)
      : occupancy_(occupancy), tflops_(std::move(tflops)) {}

  // Runs `seconds` of reports; returns the limit after each decision.
  std::vector<int> Run(int seconds) {
    std::vector<int> limits;
    for (int i = 0; i < seconds; ++i) {
      Fill();
      now_ += absl::Seconds(1);
      if (occupancy_->AddWork(tflops_.at(running_) * 1e12, now_)) {
        limits.push_back(occupancy_->limit());
      }
    }
    return limits;
  }
  // Keeps `jobs` running, fewer than the limit: a short queue.
  void Hold(int jobs) {
    while (running_ > jobs) Leave();
  }
  void Fill() {
    while (running_ > occupancy_->limit()) Leave();  // jobs end, none start
    while (running_ < occupancy_->limit()) {
      ASSERT_TRUE(occupancy_->Enter(stop_));
      occupancy_->Started();
      ++running_;
    }
  }
  int running() const { return running_; }

 private:
  void Leave() {
    occupancy_->Leave(true);
    --running_;
  }
  Occupancy* occupancy_;
  std::map<int, double> tflops_;
  absl::Notification stop_;
  absl::Time now_ = absl::UnixEpoch();
  int running_ = 0;
};

Occupancy::Options Options() {
  Occupancy::Options options;
  options.max_jobs = 16;
  options.window = absl::Seconds(10);
  options.gain = 1.1;
  options.settle_windows = 3;
  return options;
}

TEST(OccupancyTest, DoublesWhileThroughputGrowsThenSettlesOnTheBest) {
  Occupancy occupancy(Options());
  EXPECT_EQ(occupancy.limit(), 1);
  // Small jobs: 2 and 4 at once pay, 8 adds less than a tenth.
  Device device(&occupancy, {{1, 1.0}, {2, 1.9}, {4, 3.0}, {8, 3.2}});
  // Each window: 10 s after the first report with every job running.
  EXPECT_EQ(device.Run(44), (std::vector<int>{2, 4, 8, 4}));
  EXPECT_EQ(occupancy.rates().at(8), 3.2e12);
  EXPECT_NE(occupancy.last_decision().find("settled at 4"), std::string::npos)
      << occupancy.last_decision();
  // Settled for three windows, it tries the doubling again, and comes back.
  EXPECT_EQ(device.Run(55), (std::vector<int>{8, 4}));
}

TEST(OccupancyTest, OneLargeJobThatFillsTheDeviceStaysAlone) {
  Occupancy occupancy(Options());
  Device device(&occupancy, {{1, 10.0}, {2, 10.5}});
  EXPECT_EQ(device.Run(22), (std::vector<int>{2, 1}));
  EXPECT_EQ(device.running(), 2);  // the second job finishes...
  device.Fill();                   // ...and no new one starts
  EXPECT_EQ(device.running(), 1);
}

TEST(OccupancyTest, StopsAtTheMostJobs) {
  Occupancy::Options options = Options();
  options.max_jobs = 3;
  Occupancy occupancy(options);
  Device device(&occupancy, {{1, 1.0}, {2, 2.0}, {3, 3.0}});
  EXPECT_EQ(device.Run(33), (std::vector<int>{2, 3, 3}));
  EXPECT_NE(occupancy.last_decision().find("the most"), std::string::npos);
}

// A short queue (or jobs waiting for memory) leaves the device below the
// limit: such a window measures nothing and moves nothing.
TEST(OccupancyTest, AWindowBelowTheLimitMeasuresNothing) {
  Occupancy occupancy(Options());
  Device device(&occupancy, {{1, 1.0}, {2, 5.0}});
  EXPECT_EQ(device.Run(11), (std::vector<int>{2}));
  device.Fill();  // two jobs: the next report starts a window
  const absl::Time start = absl::UnixEpoch() + absl::Hours(1);
  EXPECT_FALSE(occupancy.AddWork(5e12, start));
  device.Hold(1);  // then one of them ends and the queue is empty
  for (int i = 1; i <= 30; ++i) {
    EXPECT_FALSE(occupancy.AddWork(1e12, start + absl::Seconds(i)));
  }
  EXPECT_EQ(occupancy.limit(), 2);
  EXPECT_EQ(occupancy.rates().count(2), 0u);
}

// A job that leased but waits for device memory is not training: with it,
// the device holds fewer jobs than allowed, and the window decides nothing.
TEST(OccupancyTest, AJobWaitingForMemoryDoesNotFillAWindow) {
  Occupancy occupancy(Options());
  Device device(&occupancy, {{1, 1.0}, {2, 5.0}});
  EXPECT_EQ(device.Run(11), (std::vector<int>{2}));
  ASSERT_EQ(device.running(), 1);  // one job trains
  absl::Notification stop;
  ASSERT_TRUE(occupancy.Enter(stop));  // the other leased; it waits for memory
  for (int i = 0; i < 30; ++i) {
    EXPECT_FALSE(occupancy.AddWork(
        1e12, absl::UnixEpoch() + absl::Hours(1) + absl::Seconds(i)));
  }
  EXPECT_EQ(occupancy.rates().count(2), 0u);
  occupancy.Started();  // it got its memory: the next window measures
  EXPECT_FALSE(occupancy.AddWork(1e12, absl::UnixEpoch() + absl::Hours(2)));
  EXPECT_TRUE(occupancy.AddWork(
      5e12, absl::UnixEpoch() + absl::Hours(2) + absl::Seconds(10)));
  EXPECT_EQ(occupancy.rates().at(2), 0.5e12);
}

TEST(OccupancyTest, EnterWaitsForRoomAndStopEndsTheWait) {
  Occupancy occupancy(Options());
  absl::Notification stop;
  ASSERT_TRUE(occupancy.Enter(stop));
  std::atomic<int> entered{0};
  std::thread second([&] { entered = occupancy.Enter(stop) ? 1 : -1; });
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(entered.load(), 0);
  occupancy.Leave(false);
  second.join();
  EXPECT_EQ(entered.load(), 1);
  std::thread third([&] { EXPECT_FALSE(occupancy.Enter(stop)); });
  absl::SleepFor(absl::Milliseconds(150));
  stop.Notify();
  third.join();
}

}  // namespace
}  // namespace forgetlab
