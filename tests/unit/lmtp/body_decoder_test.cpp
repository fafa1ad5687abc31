// BodyDecoder on its own: where the message ends, what is kept, how octets are counted.
#include "lmtp/body_decoder.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern::lmtp {
namespace {

using namespace std::string_literals;

TEST(LmtpBodyDecoderTest, StopsRightAfterTheEndLine) {
  BodyDecoder body(1000);
  const std::string input = "a\r\n.\r\nNOOP\r\n";
  EXPECT_EQ(body.feed(input), 6u);
  EXPECT_TRUE(body.finished());
  EXPECT_EQ(body.message(), "a\n");
  EXPECT_EQ(body.octets(), 3u);
  EXPECT_EQ(body.feed("more"), 0u);  // nothing is taken once finished
}

TEST(LmtpBodyDecoderTest, EndLineAtTheVeryStartMeansAnEmptyMessage) {
  BodyDecoder body(1000);
  EXPECT_EQ(body.feed(".\r\n"), 3u);
  EXPECT_TRUE(body.finished());
  EXPECT_EQ(body.message(), "");
}

TEST(LmtpBodyDecoderTest, OnlyCrlfDotCrlfEndsTheMessage) {
  for (const auto* text :
       {"a\n.\nb\r\n", "a\r\n.\nb\r\n", "a\n.\r\nb\r\n", "a\r.\r\nb\r\n", "a\r\n .\r\nb\r\n"}) {
    BodyDecoder body(1000);
    const std::string input = text;
    EXPECT_EQ(body.feed(input), input.size()) << text;
    EXPECT_FALSE(body.finished()) << text;
  }
}

TEST(LmtpBodyDecoderTest, CountsOctetsAsSentAndKeepsNothingPastTheLimit) {
  BodyDecoder body(10);
  body.feed("12345678\r\n");  // exactly 10
  EXPECT_FALSE(body.too_large());
  EXPECT_EQ(body.message(), "12345678\n");
  body.feed("..x\r\n");  // the stuffing dot is not message text: 4 more
  EXPECT_TRUE(body.too_large());
  EXPECT_EQ(body.octets(), 14u);
  EXPECT_EQ(body.message(), "");
  body.feed("and a lot more\r\n.\r\n");
  EXPECT_TRUE(body.finished());
  EXPECT_EQ(body.octets(), 30u);
  EXPECT_EQ(body.message(), "");
}

TEST(LmtpBodyDecoderTest, BareCrBeforeCrlfStays) {
  BodyDecoder body(1000);
  body.feed("a\r\r\nb\r\r\r\n.\r\n");
  EXPECT_TRUE(body.finished());
  EXPECT_EQ(body.message(), "a\r\nb\r\r\n");
}

TEST(LmtpBodyDecoderTest, OneByteAtATimeMatchesOneRead) {
  const std::string input = "..\r\n.x\r\n\r\n\0\r\n\xff\r\n.\r\n"s;
  BodyDecoder whole(1000);
  whole.feed(input);
  BodyDecoder pieces(1000);
  for (const char c : input) pieces.feed(std::string(1, c));
  EXPECT_TRUE(pieces.finished());
  EXPECT_EQ(pieces.message(), whole.message());
  EXPECT_EQ(whole.message(), ".\nx\n\n\0\n\xff\n"s);
  EXPECT_EQ(pieces.octets(), whole.octets());
}

}  // namespace
}  // namespace postern::lmtp
