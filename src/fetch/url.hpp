// The one-shot account form `postern fetch pop3s://user@host[:port]`, a contract outside tooling
// relies on: pop3s:// is implicit TLS (port 995), pop3:// is STLS (port 110). The user part is
// percent-decoded ("alice%40example.org" is alice@example.org); a password in it is refused.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace postern::fetch {

struct FetchUrl {
  bool implicit_tls = true;  // pop3s
  std::string user;
  std::string host;  // without brackets for IPv6 literals
  std::uint16_t port = 995;
};

// Throws std::invalid_argument with a message that quotes the problem.
FetchUrl parse_fetch_url(std::string_view text);

// "host:port", with brackets around an IPv6 literal.
std::string host_port(std::string_view host, std::uint16_t port);

// False for names that could break a POP3 command line (CR, LF, NUL and other controls).
bool is_safe_protocol_text(std::string_view text);

}  // namespace postern::fetch
