#include "fetch/url.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace postern::fetch {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text, std::string_view url) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      throw std::invalid_argument(
          fmt::format("\"{}\": bad percent escape in the user name (write %40 for @)", url));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool is_safe_protocol_text(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string host_port(std::string_view host, std::uint16_t port) {
  if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

FetchUrl parse_fetch_url(std::string_view text) {
  FetchUrl url;
  const auto scheme_end = text.find("://");
  const std::string scheme = lower(text.substr(0, scheme_end));
  if (scheme_end == std::string_view::npos || (scheme != "pop3s" && scheme != "pop3")) {
    throw std::invalid_argument(fmt::format(
        "\"{}\": expected pop3s://user@host[:port] (TLS) or pop3://user@host[:port] (STLS)", text));
  }
  url.implicit_tls = scheme == "pop3s";
  url.port = url.implicit_tls ? 995 : 110;
  std::string_view rest = text.substr(scheme_end + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    throw std::invalid_argument(fmt::format("\"{}\": a POP3 URL has no path or query", text));
  }
  const auto at = rest.rfind('@');
  if (at == std::string_view::npos || at == 0) {
    throw std::invalid_argument(
        fmt::format("\"{}\": the user name is missing (pop3s://user@host)", text));
  }
  const auto userinfo = rest.substr(0, at);
  if (userinfo.find(':') != std::string_view::npos) {
    throw std::invalid_argument(fmt::format(
        "\"{}\": a password in the URL would show in the process list; use --password-file, "
        "--password-command or POSTERN_PASSWORD",
        text));
  }
  url.user = percent_decode(userinfo, text);
  if (url.user.empty() || !is_safe_protocol_text(url.user)) {
    throw std::invalid_argument(fmt::format("\"{}\": the user name has control characters", text));
  }
  std::string_view hostport = rest.substr(at + 1);
  std::string_view port_text;
  if (hostport.starts_with('[')) {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument(fmt::format("\"{}\": missing ']' after the IPv6 address", text));
    }
    url.host = std::string(hostport.substr(1, close - 1));
    const auto after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) {
        throw std::invalid_argument(fmt::format("\"{}\": unexpected text after ']'", text));
      }
      port_text = after.substr(1);
      if (port_text.empty()) throw std::invalid_argument(fmt::format("\"{}\": empty port", text));
    }
  } else {
    const auto colon = hostport.find(':');
    url.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) throw std::invalid_argument(fmt::format("\"{}\": empty port", text));
    }
  }
  if (url.host.empty() || !is_safe_protocol_text(url.host) ||
      url.host.find_first_of(" @[]") != std::string::npos) {
    throw std::invalid_argument(fmt::format("\"{}\": missing or invalid host", text));
  }
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      throw std::invalid_argument(
          fmt::format("\"{}\": the port must be a number from 1 to 65535", text));
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  return url;
}

}  // namespace postern::fetch
