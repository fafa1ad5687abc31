// The LMTP command as plain data, and the parser that turns one command line into it.
// No I/O: the session feeds lines from LineReader; the tests feed strings.
#pragma once

#include <string>
#include <string_view>

namespace postern::lmtp {

enum class Verb {
  lhlo,
  helo,  // SMTP greetings: refused, LMTP needs LHLO (RFC 2033 section 4.1)
  ehlo,
  mail,
  rcpt,
  data,
  rset,
  noop,
  quit,
  vrfy,
  help,
  unknown,
};

struct Command {
  Verb verb = Verb::unknown;
  std::string keyword;  // upper-cased, as the client sent it
  std::string args;     // everything after the first space, trailing spaces removed
};

// Splits "KEYWORD[ args]" and classifies the keyword case-insensitively.
Command parse_command(std::string_view line);

// Whether the bytes hold NUL, CR or LF (or any other control character but TAB): such bytes are
// never taken as part of an argument.
bool has_control_characters(std::string_view text);

}  // namespace postern::lmtp
