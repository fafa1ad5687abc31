#include "net/cidr.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace postern::net {

std::optional<IpAddress> parse_ip(std::string_view text) {
  const std::string s(text);
  IpAddress address;
  if (::inet_pton(AF_INET, s.c_str(), address.bytes.data()) == 1) return address;
  if (::inet_pton(AF_INET6, s.c_str(), address.bytes.data()) != 1) return std::nullopt;
  static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address.bytes.data(), mapped_prefix, 12) == 0) {
    std::memmove(address.bytes.data(), address.bytes.data() + 12, 4);
    std::memset(address.bytes.data() + 4, 0, 12);
    return address;
  }
  address.v6 = true;
  return address;
}

Cidr Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto ip = parse_ip(text.substr(0, slash));
  if (!ip) throw std::invalid_argument(fmt::format("\"{}\" is not an IP address or network", text));
  Cidr cidr;
  cidr.network_ = *ip;
  cidr.text_ = std::string(text);
  const unsigned max = ip->v6 ? 128 : 32;
  cidr.prefix_ = max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    unsigned prefix = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc{} || ptr != digits.data() + digits.size() ||
        prefix > max) {
      throw std::invalid_argument(
          fmt::format("\"{}\": the prefix length must be a number from 0 to {}", text, max));
    }
    cidr.prefix_ = prefix;
  }
  return cidr;
}

bool Cidr::contains(const IpAddress& address) const {
  if (address.v6 != network_.v6) return false;
  const unsigned full = prefix_ / 8;
  if (std::memcmp(address.bytes.data(), network_.bytes.data(), full) != 0) return false;
  const unsigned rest = prefix_ % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address.bytes[full] & mask) == (network_.bytes[full] & mask);
}

bool any_contains(const std::vector<Cidr>& networks, const IpAddress& address) {
  for (const auto& network : networks) {
    if (network.contains(address)) return true;
  }
  return false;
}

}  // namespace postern::net
