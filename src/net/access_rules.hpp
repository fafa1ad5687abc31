// Which client addresses may connect at all: the [access] allow and deny CIDR lists, checked
// once per accepted connection before anything is sent.
#pragma once

#include <vector>

#include "net/cidr.hpp"

namespace postern::net {

struct AccessSettings {
  std::vector<Cidr> allow;  // empty: everyone not denied
  std::vector<Cidr> deny;
};

// The order, first answer wins:
//   1. an address inside any `deny` network is refused (deny beats allow, so a hole can be
//      cut out of an allowed network: allow 10.0.0.0/8, deny 10.9.0.0/16);
//   2. with an empty `allow` list, every other address is permitted;
//   3. otherwise an address is permitted only inside some `allow` network.
// An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is judged as the IPv4 address, so IPv4 rules hold
// on dual-stack listeners too. Immutable after construction, so safe to share between threads.
class AccessRules {
 public:
  AccessRules() = default;  // permits everyone
  explicit AccessRules(AccessSettings settings);

  bool permitted(const IpAddress& address) const;

 private:
  AccessSettings settings_;
};

}  // namespace postern::net
