// The POP3 command as plain data, and the parser that turns one command line into it.
// No I/O: the session feeds lines from LineReader; the tests feed strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::pop3 {

enum class Verb {
  user,
  pass,
  apop,
  auth,
  stls,
  capa,
  quit,  // AUTHORIZATION
  stat,
  list,
  retr,
  dele,
  noop,
  rset,
  top,
  uidl,
  utf8,  // TRANSACTION (noop, capa, quit: both)
  unknown,
};

struct Command {
  Verb verb = Verb::unknown;
  std::string keyword;  // upper-cased, as the client sent it (for error messages)
  std::string args;     // everything after the first space, verbatim (PASS keeps its spaces)
};

// Splits "KEYWORD[ args]" and classifies the keyword case-insensitively.
Command parse_command(std::string_view line);

// A message number or line count as RFC 1939 writes them: 1-20 ASCII digits, nothing else.
// "0" parses (callers decide whether zero is allowed); "1x", "-1", "+1", " 1", "" do not.
std::optional<std::uint64_t> parse_number(std::string_view text);

// Splits "a b" into its two space-separated numbers (TOP's arguments); nullopt unless exactly two.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_two_numbers(std::string_view text);

}  // namespace postern::pop3
