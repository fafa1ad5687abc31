#include "net/access_rules.hpp"

#include <utility>

#include "net/login_throttle.hpp"  // unmapped

namespace postern::net {

AccessRules::AccessRules(AccessSettings settings) : settings_(std::move(settings)) {}

bool AccessRules::permitted(const IpAddress& address) const {
  const IpAddress peer = unmapped(address);
  if (any_contains(settings_.deny, peer)) return false;
  return settings_.allow.empty() || any_contains(settings_.allow, peer);
}

}  // namespace postern::net
