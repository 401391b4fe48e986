#include "server/table.h"

#include <gtest/gtest.h>

#include <cmath>

namespace forgetlab {
namespace {

TEST(AggregateTableTest, ThreeSeedsByHand) {
  // Values 0.1, 0.2, 0.3: mean 0.2, std 0.1, sem 0.0577, t(2) = 4.3027.
  std::vector<TableSample> samples = {{32, 0, 0.1, 100},
                                      {32, 0, 0.2, 100},
                                      {32, 0, 0.3, 100},
                                      {32, 1000, 0.05, 100},
                                      {128, 0, 0.4, 500}};
  v1::Table table;
  AggregateTable(samples, &table);
  ASSERT_EQ(table.rows_size(), 2);
  EXPECT_EQ(table.rows(0).value(), 32);
  EXPECT_EQ(table.rows(0).parameter_count(), 100);
  EXPECT_EQ(table.rows(1).parameter_count(), 500);
  ASSERT_EQ(table.cols_size(), 2);
  ASSERT_EQ(table.cells_size(), 3);
  const v1::TableCell& c = table.cells(0);
  EXPECT_EQ(c.row(), 32);
  EXPECT_EQ(c.col(), 0);
  EXPECT_EQ(c.n(), 3);
  EXPECT_NEAR(c.mean(), 0.2, 1e-12);
  EXPECT_NEAR(c.std(), 0.1, 1e-12);
  EXPECT_NEAR(c.sem(), 0.1 / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(c.ci95_low(), 0.2 - 4.3027 * 0.1 / std::sqrt(3.0), 1e-4);
  EXPECT_NEAR(c.ci95_high(), 0.2 + 4.3027 * 0.1 / std::sqrt(3.0), 1e-4);
  EXPECT_EQ(c.min(), 0.1);
  EXPECT_EQ(c.max(), 0.3);
  // A single value: no spread, zero-width interval.
  const v1::TableCell& single = table.cells(1);
  EXPECT_EQ(single.n(), 1);
  EXPECT_EQ(single.std(), 0);
  EXPECT_EQ(single.ci95_low(), single.mean());
}

}  // namespace
}  // namespace forgetlab
