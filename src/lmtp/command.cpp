#include "lmtp/command.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace postern::lmtp {
namespace {

constexpr std::array<std::pair<std::string_view, Verb>, 11> verbs{{
    {"LHLO", Verb::lhlo},
    {"HELO", Verb::helo},
    {"EHLO", Verb::ehlo},
    {"MAIL", Verb::mail},
    {"RCPT", Verb::rcpt},
    {"DATA", Verb::data},
    {"RSET", Verb::rset},
    {"NOOP", Verb::noop},
    {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy},
    {"HELP", Verb::help},
}};

char upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

}  // namespace

Command parse_command(std::string_view line) {
  Command command;
  const auto space = line.find(' ');
  const auto keyword = line.substr(0, space);
  command.keyword.reserve(keyword.size());
  std::transform(keyword.begin(), keyword.end(), std::back_inserter(command.keyword), upper);
  if (space != std::string_view::npos) {
    auto args = line.substr(space + 1);
    while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
    command.args = args;
  }
  for (const auto& [name, verb] : verbs) {
    if (command.keyword == name) command.verb = verb;
  }
  return command;
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
  });
}

}  // namespace postern::lmtp
