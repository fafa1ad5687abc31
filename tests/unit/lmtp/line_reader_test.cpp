// lmtp::LineReader: lines out of a byte stream, the length limit, and handing bytes back at DATA.
#include "lmtp/line_reader.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern::lmtp {
namespace {

TEST(LmtpLineReaderTest, SplitsCrlfAndBareLfLines) {
  LineReader reader(512);
  reader.feed("one\r\ntwo\nthr");
  EXPECT_EQ(reader.next()->text, "one");
  EXPECT_EQ(reader.next()->text, "two");
  EXPECT_FALSE(reader.next());
  reader.feed("ee\r\n");
  EXPECT_EQ(reader.next()->text, "three");
  EXPECT_FALSE(reader.next());
}

TEST(LmtpLineReaderTest, TooLongLineIsReportedOnceAndItsRestDropped) {
  LineReader reader(10);
  reader.feed("0123456789abc");
  auto line = reader.next();
  ASSERT_TRUE(line);
  EXPECT_TRUE(line->too_long);
  EXPECT_EQ(reader.buffered(), 0u);
  reader.feed("still the same line");
  EXPECT_FALSE(reader.next());
  EXPECT_EQ(reader.buffered(), 0u);
  reader.feed(" end\r\nNEXT\r\n");
  line = reader.next();
  ASSERT_TRUE(line);
  EXPECT_FALSE(line->too_long);
  EXPECT_EQ(line->text, "NEXT");
}

TEST(LmtpLineReaderTest, TakeBufferedHandsOutTheUnreadBytes) {
  LineReader reader(512);
  reader.feed("DATA\r\nSubject: x\r\n");
  EXPECT_EQ(reader.next()->text, "DATA");
  EXPECT_EQ(reader.take_buffered(), "Subject: x\r\n");
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_FALSE(reader.next());
  reader.feed("NOOP\r\n");
  EXPECT_EQ(reader.next()->text, "NOOP");
}

}  // namespace
}  // namespace postern::lmtp
