#include "client/eta.h"

#include <gtest/gtest.h>

namespace forgetlab {
namespace {

TEST(CostWeightedEtaTest, BigJobsLeftMeanALaterFinish) {
  // Three cheap jobs (cost 1) and one dear one (cost 9); one job was done
  // before the watch began.
  CostWeightedEta eta;
  eta.AddJob(1, 1, true);
  eta.AddJob(2, 1, false);
  eta.AddJob(3, 1, false);
  eta.AddJob(4, 9, false);
  eta.Start();
  EXPECT_EQ(eta.Eta(5), -1);  // nothing finished since the start
  eta.SetFinished(2, true);
  // 1 unit in 10 s; 10 units left: 100 s, not the 20 s a job count gives.
  EXPECT_DOUBLE_EQ(eta.Eta(10), 100);
  eta.SetFinished(3, true);
  EXPECT_DOUBLE_EQ(eta.Eta(20), 90);
  // A retried job counts as remaining again.
  eta.SetFinished(3, false);
  EXPECT_DOUBLE_EQ(eta.remaining_cost(), 10);
  eta.SetFinished(4, true);
  eta.SetFinished(3, true);
  EXPECT_DOUBLE_EQ(eta.Eta(30), 0);
}

}  // namespace
}  // namespace forgetlab
