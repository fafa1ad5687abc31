#include "pop3/command.hpp"

#include <array>
#include <utility>

namespace postern::pop3 {
namespace {

struct KeywordEntry {
  std::string_view keyword;
  Verb verb;
};

constexpr std::array keyword_table{
    KeywordEntry{"USER", Verb::user}, KeywordEntry{"PASS", Verb::pass},
    KeywordEntry{"APOP", Verb::apop}, KeywordEntry{"AUTH", Verb::auth},
    KeywordEntry{"STLS", Verb::stls}, KeywordEntry{"CAPA", Verb::capa},
    KeywordEntry{"QUIT", Verb::quit}, KeywordEntry{"STAT", Verb::stat},
    KeywordEntry{"LIST", Verb::list}, KeywordEntry{"RETR", Verb::retr},
    KeywordEntry{"DELE", Verb::dele}, KeywordEntry{"NOOP", Verb::noop},
    KeywordEntry{"RSET", Verb::rset}, KeywordEntry{"TOP", Verb::top},
    KeywordEntry{"UIDL", Verb::uidl}, KeywordEntry{"UTF8", Verb::utf8},
};

char ascii_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

}  // namespace

Command parse_command(std::string_view line) {
  Command command;
  const auto space = line.find(' ');
  const auto keyword = line.substr(0, space);
  if (space != std::string_view::npos) command.args.assign(line.substr(space + 1));
  // Keywords are 3-4 printable characters; anything longer is not worth echoing back in full.
  command.keyword.reserve(std::min<std::size_t>(keyword.size(), 8));
  for (const char c : keyword.substr(0, 8)) command.keyword.push_back(ascii_upper(c));
  if (keyword.size() > 4) return command;
  for (const auto& entry : keyword_table) {
    if (entry.keyword == command.keyword) {
      command.verb = entry.verb;
      break;
    }
  }
  return command;
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_two_numbers(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto first = parse_number(text.substr(0, space));
  const auto second = parse_number(text.substr(space + 1));
  if (!first || !second) return std::nullopt;
  return std::pair{*first, *second};
}

}  // namespace postern::pop3
