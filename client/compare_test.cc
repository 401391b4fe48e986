#include "client/compare.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace forgetlab {
namespace {

using ::testing::HasSubstr;

v1::JobResultEntry Result(int64_t job, double width, double n, double seed,
                          double forgetting) {
  v1::JobResultEntry e;
  e.set_job_id(job);
  (*e.mutable_axis_values())["model.width"] = width;
  (*e.mutable_axis_values())["pretrain.examples"] = n;
  (*e.mutable_axis_values())["seed"] = seed;
  (*e.mutable_result()->mutable_metrics())["forgetting"] = forgetting;
  return e;
}

TEST(ComparePairsTest, PairsBySeedAndEveryOtherAxis) {
  // Differences (b - a) 0.1, 0.2 and 0.2 by hand; one result at a has no
  // partner (width 64, seed 1), nor does one at b (width 64, seed 2).
  std::vector<v1::JobResultEntry> results = {
      Result(1, 32, 0, 0, 0.5),   Result(2, 32, 1000, 0, 0.6),
      Result(3, 32, 0, 1, 0.4),   Result(4, 32, 1000, 1, 0.6),
      Result(5, 64, 0, 0, 0.3),   Result(6, 64, 1000, 0, 0.5),
      Result(7, 64, 0, 1, 0.9),   Result(8, 64, 1000, 2, 0.9),
      Result(9, 64, 500, 0, 0.0),
  };
  absl::StatusOr<Comparison> c =
      ComparePairs(results, "forgetting", "pretrain.examples", 0, 1000);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->difference.pairs, 3);
  EXPECT_EQ(c->unpaired_a, 1);
  EXPECT_EQ(c->unpaired_b, 1);
  EXPECT_NEAR(c->difference.mean, 0.5 / 3, 1e-12);
  EXPECT_THAT(c->paired_by, ::testing::ElementsAre("model.width", "seed"));
  // sd sqrt(1/300), t(2) = 4.3027: the interval is [0.0233, 0.3101].
  EXPECT_NEAR(c->difference.ci_low,
              0.5 / 3 - 4.3027 * std::sqrt(1.0 / 300) / std::sqrt(3.0), 1e-4);
  EXPECT_TRUE(c->Resolved());
  EXPECT_THAT(ComparisonText(*c), HasSubstr("3 pairs"));
  EXPECT_THAT(ComparisonJson(*c), HasSubstr("\"pairs\": 3"));
  EXPECT_THAT(ComparisonJson(*c), HasSubstr("\"unpaired_a\": 1"));
}

TEST(ComparePairsTest, ErrorsNameWhatExists) {
  std::vector<v1::JobResultEntry> results = {Result(1, 32, 0, 0, 0.5),
                                             Result(2, 32, 1000, 0, 0.6)};
  absl::StatusOr<Comparison> c =
      ComparePairs(results, "forgetting", "finetune.lr", 0, 1);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("model.width, pretrain.examples, seed"));
  c = ComparePairs(results, "forgetting", "pretrain.examples", 0, 7);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("0, 1000"));
  c = ComparePairs(results, "acc", "pretrain.examples", 0, 1000);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("forgetting"));
  // Nothing pairs: seeds differ.
  results = {Result(1, 32, 0, 0, 0.5), Result(2, 32, 1000, 1, 0.6)};
  EXPECT_FALSE(
      ComparePairs(results, "forgetting", "pretrain.examples", 0, 1000).ok());
}

}  // namespace
}  // namespace forgetlab
