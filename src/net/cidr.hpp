// CIDR networks ("192.0.2.0/24", "2001:db8::/32", or a bare address) and the match of a peer
// address against a list of them: the one check behind trusted_networks and allow/deny rules.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::net {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
};

// Parses "1.2.3.4" or "::1" (no brackets, no port). IPv4-mapped IPv6 (::ffff:1.2.3.4) becomes IPv4.
std::optional<IpAddress> parse_ip(std::string_view text);

class Cidr {
 public:
  // "addr/prefix" or a bare address (a /32 or /128). Throws std::invalid_argument saying why.
  static Cidr parse(std::string_view text);
  bool contains(const IpAddress& address) const;
  const std::string& text() const { return text_; }

 private:
  IpAddress network_;
  unsigned prefix_ = 0;
  std::string text_;
};

bool any_contains(const std::vector<Cidr>& networks, const IpAddress& address);

}  // namespace postern::net
