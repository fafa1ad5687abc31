#include "fetch/capabilities.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <typename Fn>
void for_each_line(std::string_view body, Fn&& fn) {
  while (!body.empty()) {
    const auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    if (line.ends_with('\r')) line.remove_suffix(1);
    fn(line);
    if (nl == std::string_view::npos) break;
    body.remove_prefix(nl + 1);
  }
}

bool parse_number(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

[[noreturn]] void bad_line(std::string_view listing, std::string_view line) {
  std::string shown;
  for (char c : line.substr(0, 80)) shown.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  throw FetchError(ErrorKind::failure,
                   fmt::format("protocol error: bad {} line \"{}\"", listing, shown));
}

// "n value" with n > 0; returns the value part.
std::string_view numbered(std::string_view listing, std::string_view line, std::uint64_t& n) {
  const auto parts = words(line);
  if (parts.size() < 2 || !parse_number(parts[0], n) || n == 0) bad_line(listing, line);
  return parts[1];
}

}  // namespace

bool Capabilities::offers_sasl(std::string_view mechanism) const {
  return std::find(sasl.begin(), sasl.end(), mechanism) != sasl.end();
}

Capabilities parse_capabilities(std::string_view body) {
  Capabilities caps;
  caps.known = true;
  for_each_line(body, [&](std::string_view line) {
    const auto parts = words(line);
    if (parts.empty()) return;
    const std::string name = upper(parts[0]);
    if (name == "TOP") caps.top = true;
    if (name == "UIDL") caps.uidl = true;
    if (name == "USER") caps.user = true;
    if (name == "PIPELINING") caps.pipelining = true;
    if (name == "STLS") caps.stls = true;
    if (name == "RESP-CODES") caps.resp_codes = true;
    if (name == "SASL") {
      for (std::size_t i = 1; i < parts.size(); ++i) caps.sasl.push_back(upper(parts[i]));
    }
    if (name == "IMPLEMENTATION" && parts.size() > 1) {
      caps.implementation = std::string(line.substr(line.find(parts[1])));
    }
  });
  return caps;
}

std::optional<std::string> apop_timestamp(std::string_view greeting_text) {
  const auto open = greeting_text.find('<');
  if (open == std::string_view::npos) return std::nullopt;
  const auto close = greeting_text.find('>', open);
  if (close == std::string_view::npos) return std::nullopt;
  const auto token = greeting_text.substr(open, close - open + 1);
  if (token.find('@') == std::string_view::npos) return std::nullopt;
  for (char c : token) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }
  return std::string(token);
}

bool is_valid_uidl(std::string_view uidl) {
  if (uidl.empty() || uidl.size() > 512) return false;
  return std::all_of(uidl.begin(), uidl.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

std::vector<UidlEntry> parse_uidl_listing(std::string_view body) {
  std::vector<UidlEntry> out;
  for_each_line(body, [&](std::string_view line) {
    UidlEntry entry;
    const auto uidl = numbered("UIDL", line, entry.number);
    if (!is_valid_uidl(uidl)) bad_line("UIDL", line);
    entry.uidl = std::string(uidl);
    out.push_back(std::move(entry));
  });
  return out;
}

std::vector<ListEntry> parse_list_listing(std::string_view body) {
  std::vector<ListEntry> out;
  for_each_line(body, [&](std::string_view line) {
    ListEntry entry;
    if (!parse_number(numbered("LIST", line, entry.number), entry.size)) bad_line("LIST", line);
    out.push_back(entry);
  });
  return out;
}

std::string parse_single_uidl(std::string_view status_text) {
  std::uint64_t n = 0;
  const auto uidl = numbered("UIDL", status_text, n);
  if (!is_valid_uidl(uidl)) bad_line("UIDL", status_text);
  return std::string(uidl);
}

}  // namespace postern::fetch
