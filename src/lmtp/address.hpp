// The arguments of MAIL FROM and RCPT TO (RFC 5321 section 4.1.2): a path, the mailbox inside
// it, and the ESMTP parameters after it. Pure parsing, no look-ups.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace postern::lmtp {

struct Parameter {
  std::string keyword;  // upper-cased: "SIZE", "BODY"
  std::string value;    // as given; empty when there was no '='
  bool has_value = false;
};

struct PathArgument {
  // The mailbox as given, without the angle brackets and without any source route
  // ("<@relay:bob@example.org>" gives "bob@example.org"); quoted local parts keep their quotes.
  // Empty for the null path "<>".
  std::string address;
  bool null_path = false;
  std::vector<Parameter> parameters;
};

enum class PathErrc {
  syntax,   // not "FROM:<...>" / "TO:<...>", or malformed parameters: 501 5.5.4
  address,  // the mailbox itself is malformed: 501 5.1.7 (sender) or 501 5.1.3 (recipient)
};

struct PathError {
  PathErrc code = PathErrc::syntax;
  std::string text;  // what is wrong, for the reply
};

// Parses "FROM:<path> params" (prefix "FROM:") or "TO:<path> params" (prefix "TO:"); the prefix
// matches case-insensitively and spaces after the colon are tolerated. Accepted mailboxes:
// <local@domain>, <"quoted local"@domain>, <user> (a bare user name), <local@[192.0.2.1]>, and
// the same without the brackets. Control characters (CR, LF, NUL, ...) are never accepted.
std::variant<PathArgument, PathError> parse_path_argument(std::string_view args,
                                                          std::string_view prefix);

}  // namespace postern::lmtp
