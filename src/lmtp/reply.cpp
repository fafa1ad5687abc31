#include "lmtp/reply.hpp"

#include <fmt/format.h>

namespace postern::lmtp {

void append_reply(std::string& out, int code, std::string_view status, std::string_view text) {
  if (status.empty()) {
    fmt::format_to(std::back_inserter(out), "{} {}\r\n", code, text);
  } else {
    fmt::format_to(std::back_inserter(out), "{} {} {}\r\n", code, status, text);
  }
}

void append_multiline(std::string& out, int code, std::span<const std::string> lines) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const char separator = i + 1 < lines.size() ? '-' : ' ';
    fmt::format_to(std::back_inserter(out), "{}{}{}\r\n", code, separator, lines[i]);
  }
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) c = '?';
  }
  return out;
}

}  // namespace postern::lmtp
