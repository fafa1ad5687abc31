// MessageEncoder turns stored bytes into RETR/TOP wire bytes. Each case states the exact wire
// form and content size, and must come out the same however the file reads are split.
#include "pop3/message_encoder.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

namespace postern::pop3 {
namespace {

struct Encoded {
  std::string wire;
  std::uint64_t octets = 0;
};

// Plays the driver: feeds pieces until the encoder says stop (TOP's limit), then finishes.
Encoded encode_in_chunks(std::string_view stored, std::optional<std::uint64_t> top,
                         std::size_t chunk) {
  MessageEncoder encoder(top);
  Encoded result;
  for (std::size_t pos = 0; pos < stored.size(); pos += chunk) {
    if (!encoder.feed(stored.substr(pos, chunk), result.wire)) break;
  }
  encoder.finish(result.wire);
  result.octets = encoder.content_octets();
  return result;
}

Encoded encode_split_at(std::string_view stored, std::optional<std::uint64_t> top,
                        std::size_t split) {
  MessageEncoder encoder(top);
  Encoded result;
  if (encoder.feed(stored.substr(0, split), result.wire)) {
    encoder.feed(stored.substr(split), result.wire);
  }
  encoder.finish(result.wire);
  result.octets = encoder.content_octets();
  return result;
}

struct EncoderCase {
  std::string name;
  std::string stored;
  std::optional<std::uint64_t> top;  // nullopt: RETR
  std::string wire;                  // including the ".\r\n" terminator
  std::uint64_t octets;              // content without stuffing and terminator
};

void PrintTo(const EncoderCase& c, std::ostream* out) {
  *out << c.name;
}

class MessageEncoderTest : public testing::TestWithParam<EncoderCase> {};

TEST_P(MessageEncoderTest, EncodesInOnePiece) {
  const auto& c = GetParam();
  const auto got = encode_in_chunks(c.stored, c.top, std::max<std::size_t>(c.stored.size(), 1));
  EXPECT_EQ(got.wire, c.wire);
  EXPECT_EQ(got.octets, c.octets);
}

TEST_P(MessageEncoderTest, SameBytesAtEveryChunkSize) {
  const auto& c = GetParam();
  for (std::size_t chunk = 1; chunk <= c.stored.size(); ++chunk) {
    const auto got = encode_in_chunks(c.stored, c.top, chunk);
    ASSERT_EQ(got.wire, c.wire) << "chunk size " << chunk;
    ASSERT_EQ(got.octets, c.octets) << "chunk size " << chunk;
  }
}

TEST_P(MessageEncoderTest, SameBytesAtEverySplitPoint) {
  const auto& c = GetParam();
  for (std::size_t split = 0; split <= c.stored.size(); ++split) {
    const auto got = encode_split_at(c.stored, c.top, split);
    ASSERT_EQ(got.wire, c.wire) << "split at " << split;
    ASSERT_EQ(got.octets, c.octets) << "split at " << split;
  }
}

// RETR: content_octets is the message's CRLF-form size, the number LIST and STAT report.
INSTANTIATE_TEST_SUITE_P(
    Retr, MessageEncoderTest,
    testing::Values(
        EncoderCase{"LfBecomesCrlf", "A: b\n\nhello\n", std::nullopt, "A: b\r\n\r\nhello\r\n.\r\n",
                    15},
        EncoderCase{"CrlfIsKept", "A: b\r\n\r\nhello\r\n", std::nullopt,
                    "A: b\r\n\r\nhello\r\n.\r\n", 15},
        EncoderCase{"MixedLineEnds", "a\r\nb\nc\r\n", std::nullopt, "a\r\nb\r\nc\r\n.\r\n", 9},
        EncoderCase{"BareCrIsKept", "a\rb\n", std::nullopt, "a\rb\r\n.\r\n", 5},
        EncoderCase{"CrCrLf", "a\r\r\n", std::nullopt, "a\r\r\n.\r\n", 4},
        EncoderCase{"DotStuffing", ".hidden\n..two\nmid.dle\n", std::nullopt,
                    "..hidden\r\n...two\r\nmid.dle\r\n.\r\n", 25},
        EncoderCase{"LineThatIsJustADot", "a\n.\nb\n", std::nullopt, "a\r\n..\r\nb\r\n.\r\n", 9},
        EncoderCase{"DotAsWholeMessage", ".\n", std::nullopt, "..\r\n.\r\n", 3},
        EncoderCase{"DotAfterCrlf", "a\r\n.\r\n", std::nullopt, "a\r\n..\r\n.\r\n", 6},
        EncoderCase{"NoFinalNewline", "a\nb", std::nullopt, "a\r\nb\r\n.\r\n", 6},
        EncoderCase{"NoFinalNewlineDot", "a\n.", std::nullopt, "a\r\n..\r\n.\r\n", 6},
        EncoderCase{"EndsInBareCr", "a\r", std::nullopt, "a\r\r\n.\r\n", 4},
        EncoderCase{"EmptyMessage", "", std::nullopt, ".\r\n", 0},
        EncoderCase{"OnlyANewline", "\n", std::nullopt, "\r\n.\r\n", 2},
        EncoderCase{"BlankLines", "\n\n\r\n", std::nullopt, "\r\n\r\n\r\n.\r\n", 6},
        EncoderCase{"NulBytes", std::string("a\0b\n", 4), std::nullopt,
                    std::string("a\0b\r\n.\r\n", 8), 5}),
    [](const auto& test) { return test.param.name; });

// TOP n k: the header block, the blank line, then at most k body lines.
INSTANTIATE_TEST_SUITE_P(
    Top, MessageEncoderTest,
    testing::Values(
        EncoderCase{"ZeroLinesLf", "A: b\nC: d\n\nbody1\nbody2\n", 0, "A: b\r\nC: d\r\n\r\n.\r\n",
                    14},
        EncoderCase{"ZeroLinesCrlf", "A: b\r\nC: d\r\n\r\nbody1\r\nbody2\r\n", 0,
                    "A: b\r\nC: d\r\n\r\n.\r\n", 14},
        EncoderCase{"ZeroLinesNoBlankLine", "A: b\nC: d\n", 0, "A: b\r\nC: d\r\n.\r\n", 12},
        EncoderCase{"ZeroLinesNoNewlineAtAll", "A: b", 0, "A: b\r\n.\r\n", 6},
        EncoderCase{"ZeroLinesEmptyBody", "A: b\n\n", 0, "A: b\r\n\r\n.\r\n", 8},
        EncoderCase{"ZeroLinesEmptyMessage", "", 0, ".\r\n", 0},
        EncoderCase{"ZeroLinesNoHeaders", "\nbody\n", 0, "\r\n.\r\n", 2},
        EncoderCase{"TwoLines", "A: b\n\n1\n2\n3\n", 2, "A: b\r\n\r\n1\r\n2\r\n.\r\n", 14},
        EncoderCase{"TwoLinesCrlf", "A: b\r\n\r\n1\r\n2\r\n3\r\n", 2, "A: b\r\n\r\n1\r\n2\r\n.\r\n",
                    14},
        EncoderCase{"TwoLinesDotStuffed", "A: b\n\n.1\n.\n3\n", 2, "A: b\r\n\r\n..1\r\n..\r\n.\r\n",
                    15},
        EncoderCase{"BlankBodyLinesCount", "A: b\n\n\n\nx\n", 2, "A: b\r\n\r\n\r\n\r\n.\r\n", 12},
        EncoderCase{"OneLineNoHeaders", "\nbody\nmore\n", 1, "\r\nbody\r\n.\r\n", 8},
        EncoderCase{"MoreLinesThanBody", "A: b\n\n1\n2\n", 10, "A: b\r\n\r\n1\r\n2\r\n.\r\n", 14},
        EncoderCase{"MoreLinesThanBodyNoFinalNewline", "A: b\n\n1", 5, "A: b\r\n\r\n1\r\n.\r\n",
                    11},
        EncoderCase{"MaxLinesIsWholeMessage", "A: b\n\n1\n.\n", UINT64_MAX,
                    "A: b\r\n\r\n1\r\n..\r\n.\r\n", 14}),
    [](const auto& test) { return test.param.name; });

TEST(MessageEncoderSplitTest, CrlfSplitAcrossChunksStaysOneLineEnd) {
  MessageEncoder encoder;
  std::string wire;
  encoder.feed("a\r", wire);
  encoder.feed("\nb", wire);
  encoder.finish(wire);
  EXPECT_EQ(wire, "a\r\nb\r\n.\r\n");
  EXPECT_EQ(encoder.content_octets(), 6u);
}

TEST(MessageEncoderSplitTest, HeaderEndSplitInsideCrlfIsRecognised) {
  MessageEncoder encoder(0);
  std::string wire;
  EXPECT_TRUE(encoder.feed("A: b\r\n\r", wire));
  EXPECT_FALSE(encoder.feed("\nbody\r\n", wire));
  encoder.finish(wire);
  EXPECT_EQ(wire, "A: b\r\n\r\n.\r\n");
}

TEST(MessageEncoderSplitTest, EmptyChunksChangeNothing) {
  MessageEncoder encoder;
  std::string wire;
  EXPECT_TRUE(encoder.feed("", wire));
  EXPECT_TRUE(encoder.feed(".a", wire));
  EXPECT_TRUE(encoder.feed("", wire));
  EXPECT_TRUE(encoder.feed("\n", wire));
  encoder.finish(wire);
  EXPECT_EQ(wire, "..a\r\n.\r\n");
  EXPECT_EQ(encoder.content_octets(), 4u);
}

TEST(MessageEncoderLimitTest, RetrNeverAsksToStop) {
  MessageEncoder encoder;
  std::string wire;
  EXPECT_TRUE(encoder.feed("A: b\n\n1\n2\n", wire));
  EXPECT_TRUE(encoder.feed("3\n", wire));
}

TEST(MessageEncoderLimitTest, TopAsksToStopOnceTheLinesAreOut) {
  MessageEncoder encoder(1);
  std::string wire;
  EXPECT_TRUE(encoder.feed("A: b\n\n", wire));
  EXPECT_FALSE(encoder.feed("1\n2\n", wire));
  EXPECT_EQ(wire, "A: b\r\n\r\n1\r\n");
}

TEST(MessageEncoderLimitTest, FeedingAfterTheLimitAddsNothing) {
  MessageEncoder encoder(0);
  std::string wire;
  EXPECT_FALSE(encoder.feed("A: b\n\nbody\n", wire));
  EXPECT_FALSE(encoder.feed("more\n.\n", wire));
  encoder.finish(wire);
  EXPECT_EQ(wire, "A: b\r\n\r\n.\r\n");
  EXPECT_EQ(encoder.content_octets(), 8u);
}

TEST(MessageEncoderLimitTest, FeedAppendsToWhatIsAlreadyThere) {
  MessageEncoder encoder;
  std::string wire = "+OK 3 octets\r\n";
  encoder.feed("a\n", wire);
  encoder.finish(wire);
  EXPECT_EQ(wire, "+OK 3 octets\r\na\r\n.\r\n");
}

TEST(MessageEncoderSizeTest, LargeMessageSizeMatchesItsCrlfForm) {
  std::string stored;
  for (int i = 0; i < 20'000; ++i) stored += i % 3 == 0 ? ".line\n" : "text line\r\n";
  std::uint64_t expected = 0;
  for (int i = 0; i < 20'000; ++i) expected += i % 3 == 0 ? 7 : 11;
  const auto got = encode_in_chunks(stored, std::nullopt, 4096);
  EXPECT_EQ(got.octets, expected);
  EXPECT_EQ(got.wire.size(), expected + 6667 + 3);  // one stuffed dot per ".line", terminator
}

}  // namespace
}  // namespace postern::pop3
