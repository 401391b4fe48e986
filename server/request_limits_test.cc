#include "server/request_limits.h"

#include <gtest/gtest.h>

namespace forgetlab {
namespace {

TEST(RequestLimitsTest, CutsNeverSplitACharacter) {
  // "é" is two bytes, "€" three.
  EXPECT_EQ(TruncateUtf8("abc", 5), "abc");
  EXPECT_EQ(TruncateUtf8("a\xC3\xA9", 2), "a");
  EXPECT_EQ(TruncateUtf8("a\xC3\xA9", 3), "a\xC3\xA9");
  EXPECT_EQ(TruncateUtf8("\xE2\x82\xAC\xE2\x82\xAC", 5), "\xE2\x82\xAC");
  EXPECT_EQ(TruncateUtf8("\xE2\x82\xAC", 1), "");
  const std::string long_phase(255, 'x');
  EXPECT_EQ(TruncateUtf8(long_phase + "\xC3\xA9", kMaxNameLength), long_phase);
}

TEST(RequestLimitsTest, LogSafeEscapesWhatCouldForgeALine) {
  EXPECT_EQ(LogSafe("gpu-1"), "gpu-1");
  EXPECT_EQ(LogSafe("h\nE1130 admin token accepted"),
            "h\\nE1130 admin token accepted");
  EXPECT_EQ(LogSafe("\x1b[31m"), "\\x1b[31m");
  EXPECT_EQ(LogSafe(std::string(300, 'a')).size(), kMaxNameLength + 3);
}

}  // namespace
}  // namespace forgetlab
