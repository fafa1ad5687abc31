// parse_command classifies a command line; parse_number and parse_two_numbers read RFC 1939
// message numbers and line counts: plain ASCII digits only, never a sign, a space or a suffix.
#include "pop3/command.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace postern::pop3 {
namespace {

using namespace std::string_literals;

struct CommandCase {
  std::string line;
  Verb verb;
  std::string keyword;
  std::string args;
};

void PrintTo(const CommandCase& c, std::ostream* out) {
  *out << testing::PrintToString(c.line);
}

class ParseCommandTest : public testing::TestWithParam<CommandCase> {};

TEST_P(ParseCommandTest, ClassifiesAndKeepsArguments) {
  const auto& c = GetParam();
  const auto command = parse_command(c.line);
  EXPECT_EQ(command.verb, c.verb);
  EXPECT_EQ(command.keyword, c.keyword);
  EXPECT_EQ(command.args, c.args);
}

INSTANTIATE_TEST_SUITE_P(
    EveryKeyword, ParseCommandTest,
    testing::Values(
        CommandCase{"USER alice", Verb::user, "USER", "alice"},
        CommandCase{"PASS secret", Verb::pass, "PASS", "secret"},
        CommandCase{"APOP alice 0123", Verb::apop, "APOP", "alice 0123"},
        CommandCase{"AUTH PLAIN", Verb::auth, "AUTH", "PLAIN"},
        CommandCase{"STLS", Verb::stls, "STLS", ""}, CommandCase{"CAPA", Verb::capa, "CAPA", ""},
        CommandCase{"QUIT", Verb::quit, "QUIT", ""}, CommandCase{"STAT", Verb::stat, "STAT", ""},
        CommandCase{"LIST", Verb::list, "LIST", ""}, CommandCase{"LIST 2", Verb::list, "LIST", "2"},
        CommandCase{"RETR 1", Verb::retr, "RETR", "1"},
        CommandCase{"DELE 1", Verb::dele, "DELE", "1"}, CommandCase{"NOOP", Verb::noop, "NOOP", ""},
        CommandCase{"RSET", Verb::rset, "RSET", ""},
        CommandCase{"TOP 1 10", Verb::top, "TOP", "1 10"},
        CommandCase{"UIDL", Verb::uidl, "UIDL", ""}, CommandCase{"UTF8", Verb::utf8, "UTF8", ""}));

INSTANTIATE_TEST_SUITE_P(CaseInsensitive, ParseCommandTest,
                         testing::Values(CommandCase{"user Alice", Verb::user, "USER", "Alice"},
                                         CommandCase{"UsEr alice", Verb::user, "USER", "alice"},
                                         CommandCase{"top 1 0", Verb::top, "TOP", "1 0"},
                                         CommandCase{"quit", Verb::quit, "QUIT", ""},
                                         CommandCase{"capa", Verb::capa, "CAPA", ""}));

// The password is everything after the first space, byte for byte: spaces belong to it.
INSTANTIATE_TEST_SUITE_P(
    ArgsVerbatim, ParseCommandTest,
    testing::Values(CommandCase{"PASS pass word", Verb::pass, "PASS", "pass word"},
                    CommandCase{"PASS  leading", Verb::pass, "PASS", " leading"},
                    CommandCase{"PASS trailing  ", Verb::pass, "PASS", "trailing  "},
                    CommandCase{"PASS a   b", Verb::pass, "PASS", "a   b"},
                    CommandCase{"PASS  ", Verb::pass, "PASS", " "},
                    CommandCase{"PASS ", Verb::pass, "PASS", ""},
                    CommandCase{"PASS", Verb::pass, "PASS", ""},
                    CommandCase{"PASS p\tw\x01", Verb::pass, "PASS", "p\tw\x01"},
                    CommandCase{"PASS Grüße", Verb::pass, "PASS", "Grüße"}));

INSTANTIATE_TEST_SUITE_P(
    Unknown, ParseCommandTest,
    testing::Values(CommandCase{"", Verb::unknown, "", ""},
                    CommandCase{"XYZZY", Verb::unknown, "XYZZY", ""},
                    CommandCase{"USERS alice", Verb::unknown, "USERS", "alice"},
                    CommandCase{"STA", Verb::unknown, "STA", ""},
                    CommandCase{"TO 1 2", Verb::unknown, "TO", "1 2"},
                    CommandCase{" USER alice", Verb::unknown, "", "USER alice"},
                    CommandCase{"USER\talice", Verb::unknown, "USER\tALI", ""},
                    CommandCase{"ST\0T"s, Verb::unknown, "ST\0T"s, ""},
                    // Overlong keywords are cut to 8 octets so an error never echoes much back.
                    CommandCase{"STATISTICS", Verb::unknown, "STATISTI", ""},
                    CommandCase{std::string(10'000, 'k') + " x", Verb::unknown, "KKKKKKKK", "x"}));

struct NumberCase {
  std::string text;
  std::optional<std::uint64_t> value;
};

void PrintTo(const NumberCase& c, std::ostream* out) {
  *out << testing::PrintToString(c.text);
}

class ParseNumberTest : public testing::TestWithParam<NumberCase> {};

TEST_P(ParseNumberTest, AcceptsOnlyPlainDigits) {
  EXPECT_EQ(parse_number(GetParam().text), GetParam().value);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseNumberTest,
    testing::Values(NumberCase{"0", 0}, NumberCase{"1", 1}, NumberCase{"42", 42},
                    NumberCase{"01", 1},  // leading zeros are still digits
                    NumberCase{"00000000000000000007", 7},
                    NumberCase{"4294967296", 4'294'967'296ULL},
                    NumberCase{"18446744073709551615", UINT64_MAX},
                    NumberCase{"18446744073709551616", std::nullopt},
                    NumberCase{"99999999999999999999", std::nullopt},
                    NumberCase{"000000000000000000001", std::nullopt},  // 21 digits
                    NumberCase{"1x", std::nullopt}, NumberCase{"x1", std::nullopt},
                    NumberCase{"-1", std::nullopt}, NumberCase{"+1", std::nullopt},
                    NumberCase{" 1", std::nullopt}, NumberCase{"1 ", std::nullopt},
                    NumberCase{"", std::nullopt}, NumberCase{"1.0", std::nullopt},
                    NumberCase{"0x1", std::nullopt}, NumberCase{"1\0"s, std::nullopt},
                    NumberCase{"\xd9\xa1", std::nullopt}));  // ARABIC-INDIC DIGIT ONE

struct TwoNumbersCase {
  std::string text;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> value;
};

void PrintTo(const TwoNumbersCase& c, std::ostream* out) {
  *out << testing::PrintToString(c.text);
}

class ParseTwoNumbersTest : public testing::TestWithParam<TwoNumbersCase> {};

TEST_P(ParseTwoNumbersTest, AcceptsExactlyTwoNumbersAndOneSpace) {
  EXPECT_EQ(parse_two_numbers(GetParam().text), GetParam().value);
}

using Pair = std::pair<std::uint64_t, std::uint64_t>;

INSTANTIATE_TEST_SUITE_P(
    Table, ParseTwoNumbersTest,
    testing::Values(TwoNumbersCase{"1 2", Pair{1, 2}}, TwoNumbersCase{"0 0", Pair{0, 0}},
                    TwoNumbersCase{"3 18446744073709551615", Pair{3, UINT64_MAX}},
                    TwoNumbersCase{"1", std::nullopt}, TwoNumbersCase{"1 ", std::nullopt},
                    TwoNumbersCase{" 2", std::nullopt}, TwoNumbersCase{" 1 2", std::nullopt},
                    TwoNumbersCase{"1  2", std::nullopt}, TwoNumbersCase{"1 2 ", std::nullopt},
                    TwoNumbersCase{"1 2 3", std::nullopt}, TwoNumbersCase{"a 2", std::nullopt},
                    TwoNumbersCase{"1 b", std::nullopt}, TwoNumbersCase{"1 -2", std::nullopt},
                    TwoNumbersCase{"1 18446744073709551616", std::nullopt},
                    TwoNumbersCase{"", std::nullopt}));

}  // namespace
}  // namespace postern::pop3
