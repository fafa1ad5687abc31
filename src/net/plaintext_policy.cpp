#include "net/plaintext_policy.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace postern::net {

PlaintextPolicy PlaintextPolicy::from_config(const config::Config& config) {
  PlaintextPolicy policy;
  policy.allow_plaintext_ = config.auth.allow_plaintext;
  for (const auto& text : config.auth.trusted_networks) {
    try {
      policy.trusted_.push_back(Cidr::parse(text));
    } catch (const std::invalid_argument& e) {
      throw config::ConfigError(
          fmt::format("{}: key 'auth.trusted_networks': {}", config.source.string(), e.what()));
    }
  }
  return policy;
}

bool PlaintextPolicy::allowed_without_tls(std::string_view peer) const {
  if (allow_plaintext_) return true;
  const auto address = parse_ip(peer);
  return address && any_contains(trusted_, *address);
}

}  // namespace postern::net
