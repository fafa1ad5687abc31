#include "lmtp/address.hpp"

#include <algorithm>
#include <cstring>

namespace postern::lmtp {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_eight_bit(char c) {
  return static_cast<unsigned char>(c) >= 0x80;
}

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// RFC 5322 atext, plus '.' (dots are not policed: real local parts contain "a..b") and 8-bit
// bytes (UTF-8 local parts; the passdb decides whether such a user exists).
bool is_local_char(char c) {
  return is_alnum(c) || is_eight_bit(c) || c == '.' || std::strchr("!#$%&'*+-/=?^_`{|}~", c);
}

bool is_domain_char(char c) {
  return is_alnum(c) || is_eight_bit(c) || c == '-' || c == '.' || c == '_';
}

char upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (upper(text[i]) != prefix[i]) return false;
  }
  return true;
}

PathError syntax_error(std::string text) {
  return PathError{PathErrc::syntax, std::move(text)};
}

PathError address_error(std::string text) {
  return PathError{PathErrc::address, std::move(text)};
}

// Reads a mailbox (local-part ["@" domain]) from the front of `text`; returns its length, or 0
// when it is malformed. `error` says why.
std::size_t scan_mailbox(std::string_view text, std::string& error) {
  std::size_t pos = 0;
  if (!text.empty() && text[0] == '"') {
    bool closed = false;
    for (pos = 1; pos < text.size() && !closed; ++pos) {
      const char c = text[pos];
      if (is_control(c)) {
        error = "Invalid character in quoted local part";
        return 0;
      }
      if (c == '\\') {
        ++pos;  // the escaped character, whatever it is (controls are refused above)
      } else if (c == '"') {
        closed = true;
      }
    }
    if (!closed) {
      error = "Unterminated quoted local part";
      return 0;
    }
  } else {
    while (pos < text.size() && is_local_char(text[pos])) ++pos;
    if (pos == 0) {
      error = "Missing local part";
      return 0;
    }
  }
  if (pos >= text.size() || text[pos] != '@') return pos;
  const auto domain_start = ++pos;
  if (pos < text.size() && text[pos] == '[') {
    while (++pos < text.size() && text[pos] != ']') {
      const char c = text[pos];
      if (is_control(c) || is_eight_bit(c) || c == '[' || c == '\\' || c == ' ') {
        error = "Invalid address literal";
        return 0;
      }
    }
    if (pos >= text.size()) {
      error = "Unterminated address literal";
      return 0;
    }
    return pos + 1;
  }
  while (pos < text.size() && is_domain_char(text[pos])) ++pos;
  if (pos == domain_start) {
    error = "Missing domain after '@'";
    return 0;
  }
  return pos;
}

// "@relay1,@relay2:" in front of a mailbox (RFC 5321 section 4.1.2): accepted and ignored.
std::size_t scan_source_route(std::string_view text) {
  if (text.empty() || text[0] != '@') return 0;
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::string_view::npos;
  for (std::size_t i = 0; i < colon; ++i) {
    if (!is_domain_char(text[i]) && text[i] != '@' && text[i] != ',' && text[i] != '[' &&
        text[i] != ']') {
      return std::string_view::npos;
    }
  }
  return colon + 1;
}

bool valid_keyword(std::string_view keyword) {
  return !keyword.empty() && is_alnum(keyword[0]) &&
         std::all_of(keyword.begin(), keyword.end(),
                     [](char c) { return is_alnum(c) || c == '-'; });
}

bool valid_value(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7f && c != '=';
  });
}

}  // namespace

std::variant<PathArgument, PathError> parse_path_argument(std::string_view args,
                                                          std::string_view prefix) {
  const auto usage = [&prefix] {
    return syntax_error(prefix == "FROM:" ? "Syntax: MAIL FROM:<address> [parameters]"
                                          : "Syntax: RCPT TO:<address>");
  };
  if (!iequals_prefix(args, prefix)) return usage();
  auto rest = args.substr(prefix.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty()) return usage();
  if (std::any_of(rest.begin(), rest.end(), is_control)) {
    return address_error("Control characters are not allowed in an address");
  }

  PathArgument path;
  std::string error;
  if (rest.front() == '<') {
    rest.remove_prefix(1);
    if (!rest.empty() && rest.front() == '>') {
      path.null_path = true;
      rest.remove_prefix(1);
    } else {
      const auto route = scan_source_route(rest);
      if (route == std::string_view::npos) return address_error("Malformed source route");
      rest.remove_prefix(route);
      const auto length = scan_mailbox(rest, error);
      if (length == 0) return address_error(error);
      path.address = rest.substr(0, length);
      rest.remove_prefix(length);
      if (rest.empty() || rest.front() != '>') {
        return address_error("Invalid character in address, or missing '>'");
      }
      rest.remove_prefix(1);
    }
  } else {
    const auto length = scan_mailbox(rest, error);
    if (length == 0) return address_error(error);
    path.address = rest.substr(0, length);
    rest.remove_prefix(length);
  }
  if (!rest.empty() && rest.front() != ' ') {
    return address_error("Invalid character in address");
  }

  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    const auto end = std::min(rest.find(' '), rest.size());
    const auto word = rest.substr(0, end);
    rest.remove_prefix(end);
    Parameter parameter;
    const auto equals = word.find('=');
    const auto keyword = word.substr(0, equals);
    if (!valid_keyword(keyword)) return syntax_error("Malformed parameter");
    std::transform(keyword.begin(), keyword.end(), std::back_inserter(parameter.keyword), upper);
    if (equals != std::string_view::npos) {
      parameter.value = word.substr(equals + 1);
      parameter.has_value = true;
      if (!valid_value(parameter.value)) {
        return syntax_error("Malformed value of parameter " + parameter.keyword);
      }
    }
    for (const auto& other : path.parameters) {
      if (other.keyword == parameter.keyword) {
        return syntax_error("Parameter " + parameter.keyword + " given twice");
      }
    }
    path.parameters.push_back(std::move(parameter));
  }
  return path;
}

}  // namespace postern::lmtp
