// LineReader must cut the same lines out of a byte stream however TCP happens to split it,
// report an over-long line exactly once, and never hold more than the limit plus one read.
#include "pop3/line_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

namespace postern::pop3 {
namespace {

using namespace std::string_literals;

constexpr std::size_t rfc_limit = 255;  // RFC 2449: command lines, CRLF included

// A Line as plain comparable data, so whole sequences can be compared at once.
struct Got {
  std::string text;
  bool too_long = false;
  bool operator==(const Got&) const = default;
  friend std::ostream& operator<<(std::ostream& out, const Got& got) {
    if (got.too_long) return out << "<too long>";
    return out << testing::PrintToString(got.text);
  }
};

const Got too_long{{}, true};

std::vector<Got> drain(LineReader& reader) {
  std::vector<Got> lines;
  while (auto line = reader.next()) lines.push_back(Got{line->text, line->too_long});
  return lines;
}

// Feeds `input` in pieces of `chunk` bytes, taking lines after each piece as a server would.
std::vector<Got> read_in_chunks(std::string_view input, std::size_t chunk, std::size_t limit) {
  LineReader reader(limit);
  std::vector<Got> lines;
  for (std::size_t pos = 0; pos < input.size(); pos += chunk) {
    reader.feed(input.substr(pos, chunk));
    for (auto& line : drain(reader)) lines.push_back(std::move(line));
  }
  return lines;
}

// The script: every kind of line a client (or an attacker) may send, back to back.
struct Script {
  std::string input;
  std::vector<Got> expected;
};

Script command_script() {
  Script s;
  const auto add = [&s](std::string bytes, Got line) {
    s.input += bytes;
    s.expected.push_back(std::move(line));
  };
  add("USER alice\r\n", {"USER alice"});
  add("PASS pass word\n", {"PASS pass word"});                   // bare LF
  add("\r\n", {""});                                             // empty line, CRLF
  add("\n", {""});                                               // empty line, bare LF
  add(std::string(253, 'A') + "\r\n", {std::string(253, 'A')});  // exactly the limit
  add(std::string(254, 'B') + "\n", {std::string(254, 'B')});    // exactly the limit, bare LF
  add(std::string(254, 'C') + "\r\n", too_long);                 // one over
  add(std::string(255, 'D') + "\n", too_long);                   // one over, bare LF
  add(std::string(10'000, 'E') + "\r\n", too_long);              // far over
  add("NOOP\r\n", {"NOOP"});                                     // intact after a long line
  add("US\0ER a\0b\r\n"s, {"US\0ER a\0b"s});                     // NULs are just bytes
  add("a\rb\r\n", {"a\rb"});                                     // a bare CR is text
  add("\r\r\n", {"\r"});
  add(std::string(300, 'F') + "\n", too_long);
  add(std::string(300, 'G') + "\r\n", too_long);  // two long lines in a row
  add("QUIT\r\n", {"QUIT"});
  s.input += "LAST";  // no line end: never handed out
  return s;
}

TEST(LineReaderTest, SameLinesAtEveryChunkSizeFrom1To512) {
  const auto script = command_script();
  for (std::size_t chunk = 1; chunk <= 512; ++chunk) {
    ASSERT_EQ(read_in_chunks(script.input, chunk, rfc_limit), script.expected)
        << "chunk size " << chunk;
  }
}

TEST(LineReaderTest, HoldsAnUnterminatedLineBack) {
  LineReader reader(rfc_limit);
  reader.feed("NOOP\r\nST");
  EXPECT_EQ(drain(reader), std::vector<Got>{Got{"NOOP"}});
  EXPECT_EQ(reader.buffered(), 2u);
  reader.feed("AT\r\n");
  EXPECT_EQ(drain(reader), std::vector<Got>{Got{"STAT"}});
  EXPECT_EQ(reader.buffered(), 0u);
}

// Each case: input at a small limit, and the lines that must come out at every chunk size.
struct LimitCase {
  std::string name;
  std::size_t limit;
  std::string input;
  std::vector<Got> expected;
};

void PrintTo(const LimitCase& c, std::ostream* out) {
  *out << c.name;
}

class LineLimitTest : public testing::TestWithParam<LimitCase> {};

TEST_P(LineLimitTest, SameLinesAtEveryChunkSize) {
  const auto& c = GetParam();
  for (std::size_t chunk = 1; chunk <= c.input.size(); ++chunk) {
    ASSERT_EQ(read_in_chunks(c.input, chunk, c.limit), c.expected) << "chunk size " << chunk;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, LineLimitTest,
    testing::Values(
        LimitCase{"ExactlyTheLimitWithCrlf", 6, "abcd\r\nok\r\n", {{"abcd"}, {"ok"}}},
        LimitCase{"ExactlyTheLimitWithLf", 6, "abcde\nok\n", {{"abcde"}, {"ok"}}},
        LimitCase{"OneOverWithCrlf", 6, "abcde\r\nok\r\n", {too_long, {"ok"}}},
        LimitCase{"OneOverWithLf", 6, "abcdef\nok\n", {too_long, {"ok"}}},
        LimitCase{
            "FarOverReportedOnce", 6, std::string(1000, 'x') + "\r\nok\r\n", {too_long, {"ok"}}},
        LimitCase{"LongLineOfCrs", 6, std::string(50, '\r') + "\nok\n", {too_long, {"ok"}}},
        LimitCase{
            "TwoLongLinesTwoReports", 6, "abcdefgh\nijklmnop\nok\n", {too_long, too_long, {"ok"}}},
        LimitCase{"EmptyLines", 6, "\r\n\n\r\n", {{""}, {""}, {""}}},
        LimitCase{"NulBytes", 6, "\0a\0\r\n"s, {{"\0a\0"s}}},
        LimitCase{"OnlyCrIsNotAnEnd", 6, "ab\rcd\n", {{"ab\rcd"}}}),
    [](const auto& test) { return test.param.name; });

TEST(LineReaderTest, TooLongLineIsReportedOnceAndTheNextLineIsIntact) {
  LineReader reader(rfc_limit);
  reader.feed(std::string(400, 'x'));
  EXPECT_EQ(drain(reader), std::vector<Got>{too_long});
  reader.feed(std::string(400, 'x'));
  EXPECT_EQ(drain(reader), std::vector<Got>{});
  reader.feed("xxx\r\nNOOP\r\n");
  EXPECT_EQ(drain(reader), std::vector<Got>{Got{"NOOP"}});
}

TEST(LineReaderTest, ClearDropsAPartialLine) {
  LineReader reader(rfc_limit);
  reader.feed("USER al");
  EXPECT_EQ(reader.buffered(), 7u);
  reader.clear();
  EXPECT_EQ(reader.buffered(), 0u);
  reader.feed("NOOP\r\n");
  EXPECT_EQ(drain(reader), std::vector<Got>{Got{"NOOP"}});
}

TEST(LineReaderTest, ClearDropsCompleteLinesNotYetTaken) {
  LineReader reader(rfc_limit);
  reader.feed("STLS\r\nUSER mallory\r\nPASS x\r\n");
  EXPECT_EQ(reader.next()->text, "STLS");
  reader.clear();
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(LineReaderTest, ClearEndsTheDiscardingOfALongLine) {
  LineReader reader(rfc_limit);
  reader.feed(std::string(300, 'x'));
  EXPECT_EQ(drain(reader), std::vector<Got>{too_long});
  reader.clear();
  reader.feed("NOOP\r\n");  // would be eaten as the long line's tail without the clear
  EXPECT_EQ(drain(reader), std::vector<Got>{Got{"NOOP"}});
}

TEST(LineReaderTest, MemoryStaysBoundedWhileA1MbLineArrives) {
  constexpr std::size_t chunk = 4096;
  LineReader reader(rfc_limit);
  std::vector<Got> lines;
  std::size_t most = 0;
  const std::string piece(chunk, 'z');
  for (std::size_t sent = 0; sent < 1024 * 1024; sent += chunk) {
    reader.feed(piece);
    most = std::max(most, reader.buffered());
    for (auto& line : drain(reader)) lines.push_back(std::move(line));
    most = std::max(most, reader.buffered());
  }
  reader.feed("\r\nNOOP\r\n");
  for (auto& line : drain(reader)) lines.push_back(std::move(line));
  EXPECT_LE(most, rfc_limit + chunk);
  EXPECT_EQ(lines, (std::vector<Got>{too_long, Got{"NOOP"}}));
}

TEST(LineReaderTest, MemoryStaysBoundedAtAnyChunkSize) {
  for (const std::size_t chunk : {1u, 7u, 254u, 255u, 256u, 1000u}) {
    LineReader reader(rfc_limit);
    const std::string piece(chunk, 'z');
    for (std::size_t sent = 0; sent < 20'000; sent += chunk) {
      reader.feed(piece);
      ASSERT_LE(reader.buffered(), rfc_limit + chunk) << "chunk size " << chunk;
      drain(reader);
      ASSERT_LT(reader.buffered(), rfc_limit) << "chunk size " << chunk;
    }
  }
}

}  // namespace
}  // namespace postern::pop3
