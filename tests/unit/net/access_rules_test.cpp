// The [access] allow/deny lists as tables: deny beats allow, an empty allow list admits
// everyone not denied, and IPv4 peers arriving as IPv4-mapped IPv6 obey the IPv4 rules.
#include "net/access_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postern::net {
namespace {

std::vector<Cidr> cidrs(const std::vector<std::string>& texts) {
  std::vector<Cidr> out;
  for (const auto& text : texts) out.push_back(Cidr::parse(text));
  return out;
}

IpAddress ip(const std::string& text) {
  const auto address = parse_ip(text);
  if (!address) throw std::invalid_argument(text);
  return *address;
}

IpAddress mapped(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress address;  // as a dual-stack socket reports an IPv4 peer, not via parse_ip
  address.v6 = true;
  address.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
  return address;
}

struct Case {
  std::string address;
  bool permitted;
};

void check(const AccessRules& rules, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    EXPECT_EQ(rules.permitted(ip(c.address)), c.permitted) << c.address;
  }
}

TEST(AccessRules, NoRulesPermitEveryone) {
  check(AccessRules{}, {{"192.0.2.1", true}, {"::1", true}, {"2001:db8::1", true}});
  check(AccessRules(AccessSettings{}), {{"0.0.0.0", true}, {"ffff::", true}});
}

TEST(AccessRules, DenyOnly) {
  const AccessRules rules({.allow = {}, .deny = cidrs({"203.0.113.0/24", "2001:db8:bad::/48"})});
  check(rules, {
                   {"203.0.113.0", false},
                   {"203.0.113.255", false},
                   {"203.0.114.0", true},
                   {"192.0.2.1", true},
                   {"2001:db8:bad::1", false},
                   {"2001:db8:bad:ffff::1", false},
                   {"2001:db8:bae::1", true},
               });
}

TEST(AccessRules, AllowOnly) {
  const AccessRules rules(
      {.allow = cidrs({"10.0.0.0/8", "127.0.0.1", "fd00::/8", "::1"}), .deny = {}});
  check(rules, {
                   {"10.0.0.1", true},
                   {"10.255.255.255", true},
                   {"11.0.0.0", false},
                   {"127.0.0.1", true},
                   {"127.0.0.2", false},
                   {"fd12:3456::1", true},
                   {"fe80::1", false},
                   {"::1", true},
                   {"::2", false},
               });
}

TEST(AccessRules, DenyWinsOverAllow) {
  const AccessRules rules({.allow = cidrs({"10.0.0.0/8", "2001:db8::/32"}),
                           .deny = cidrs({"10.9.0.0/16", "2001:db8:9::/48", "10.1.2.3"})});
  check(rules, {
                   {"10.0.0.1", true},
                   {"10.9.0.1", false},
                   {"10.9.255.255", false},
                   {"10.10.0.0", true},
                   {"10.1.2.3", false},
                   {"10.1.2.4", true},
                   {"2001:db8:1::1", true},
                   {"2001:db8:9::1", false},
                   {"2001:db9::1", false},
                   {"192.0.2.1", false},
               });
}

TEST(AccessRules, FamiliesDoNotMix) {
  // 0.0.0.0/0 is all of IPv4 and none of IPv6, and ::/0 the other way round.
  const AccessRules v4_only({.allow = cidrs({"0.0.0.0/0"}), .deny = {}});
  check(v4_only, {{"192.0.2.1", true}, {"::1", false}, {"2001:db8::1", false}});
  const AccessRules no_v6({.allow = {}, .deny = cidrs({"::/0"})});
  check(no_v6, {{"192.0.2.1", true}, {"::1", false}, {"::ffff:192.0.2.1", true}});
}

TEST(AccessRules, MappedIpv4FollowsIpv4Rules) {
  const AccessRules rules({.allow = cidrs({"192.0.2.0/24"}), .deny = cidrs({"192.0.2.66"})});
  EXPECT_TRUE(rules.permitted(mapped(192, 0, 2, 1)));
  EXPECT_FALSE(rules.permitted(mapped(192, 0, 2, 66)));
  EXPECT_FALSE(rules.permitted(mapped(198, 51, 100, 1)));
  EXPECT_TRUE(rules.permitted(ip("::ffff:192.0.2.1")));
  EXPECT_FALSE(rules.permitted(ip("::ffff:192.0.2.66")));
}

}  // namespace
}  // namespace postern::net
