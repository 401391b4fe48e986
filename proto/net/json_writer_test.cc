#include "proto/net/json_writer.h"

#include <gtest/gtest.h>

#include <limits>

namespace forgetlab {
namespace {

TEST(JsonTest, EscapesStrings) {
  EXPECT_EQ(JsonString("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST(JsonTest, NumbersRoundTripAndNonFiniteIsNull) {
  EXPECT_EQ(JsonNumber(0.05), "0.05");
  EXPECT_EQ(JsonNumber(32), "32");
  EXPECT_EQ(std::stod(JsonNumber(0.1 + 0.2)), 0.1 + 0.2);
  EXPECT_EQ(JsonNumber(std::numeric_limits<double>::quiet_NaN()), "null");
}

}  // namespace
}  // namespace forgetlab
