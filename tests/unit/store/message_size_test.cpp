#include "store/message_size.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace postern::store {
namespace {

struct SizeCase {
  std::string_view message;
  std::uint64_t crlf_size;
};

constexpr SizeCase cases[] = {
    {"", 0},
    {"x", 3},   // x CRLF added by RETR
    {"\n", 2},  // bare LF becomes CRLF
    {"\r", 3},  // a lone CR stays one byte, then the added CRLF
    {"\r\n", 2},
    {"a\nb", 6},  // a CRLF b CRLF
    {"a\r\nb\r\n", 6},
    {"a\r", 4},
    {"a\r\n", 3},
    {"\n\n", 4},
    {"\r\r\n", 3},
    {"a\n\r\nb", 8},
    {"Subject: x\n\nbody\n", 20},
};

std::uint64_t size_in_chunks(std::string_view message, std::size_t first_split,
                             std::size_t second_split) {
  CrlfSizeCounter counter;
  counter.feed(message.substr(0, first_split));
  counter.feed(message.substr(first_split, second_split - first_split));
  counter.feed(message.substr(second_split));
  return counter.size();
}

TEST(CrlfSizeCounter, WholeMessages) {
  for (const SizeCase& c : cases) {
    CrlfSizeCounter counter;
    counter.feed(c.message);
    EXPECT_EQ(counter.size(), c.crlf_size) << "message \"" << c.message << '"';
  }
}

TEST(CrlfSizeCounter, SameSizeAtEverySplitIntoThreeChunks) {
  for (const SizeCase& c : cases) {
    for (std::size_t i = 0; i <= c.message.size(); ++i) {
      for (std::size_t j = i; j <= c.message.size(); ++j)
        EXPECT_EQ(size_in_chunks(c.message, i, j), c.crlf_size)
            << '"' << c.message << "\" split " << i << ',' << j;
    }
  }
}

TEST(CrlfSizeCounter, OneByteChunks) {
  for (const SizeCase& c : cases) {
    CrlfSizeCounter counter;
    for (const char byte : c.message) counter.feed({&byte, 1});
    EXPECT_EQ(counter.size(), c.crlf_size) << '"' << c.message << '"';
  }
}

TEST(CrlfSizeCounter, CrAndLfInDifferentChunksAreOneLineEnd) {
  CrlfSizeCounter counter;
  counter.feed("a\r");
  counter.feed("\n");
  EXPECT_EQ(counter.size(), 3U);
}

TEST(CrlfSizeCounter, SizeCanBeAskedMidwayAndFeedingContinues) {
  CrlfSizeCounter counter;
  counter.feed("ab");
  EXPECT_EQ(counter.size(), 4U);
  counter.feed("\n");
  EXPECT_EQ(counter.size(), 4U);
  counter.feed("");
  EXPECT_EQ(counter.size(), 4U);
}

TEST(CrlfSizeCounter, CountsBeyondFourGibibytes) {
  const std::string chunk(1 << 20, 'x');
  CrlfSizeCounter counter;
  for (int i = 0; i < 4097; ++i) counter.feed(chunk);
  EXPECT_EQ(counter.size(), 4097ULL * (1 << 20) + 2);
}

}  // namespace
}  // namespace postern::store
