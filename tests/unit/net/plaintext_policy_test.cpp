// Who may send USER/PASS before TLS: allow_plaintext, else peers inside trusted_networks; and
// the errors that name auth.trusted_networks when an entry is not a network.
#include "net/plaintext_policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postern::net {
namespace {

config::Config config_with(bool allow_plaintext, std::vector<std::string> trusted) {
  config::Config config;
  config.source = "/etc/postern/test.toml";
  config.auth.allow_plaintext = allow_plaintext;
  config.auth.trusted_networks = std::move(trusted);
  return config;
}

struct PeerCase {
  std::string peer;
  bool allowed;
};

class DefaultTrustedNetworksTest : public testing::TestWithParam<PeerCase> {};

TEST_P(DefaultTrustedNetworksTest, OnlyLoopbackMayUsePlaintext) {
  const auto policy = PlaintextPolicy::from_config(config::Config{});
  EXPECT_EQ(policy.allowed_without_tls(GetParam().peer), GetParam().allowed) << GetParam().peer;
}

INSTANTIATE_TEST_SUITE_P(Table, DefaultTrustedNetworksTest,
                         testing::Values(PeerCase{"127.0.0.1", true}, PeerCase{"127.1.2.3", true},
                                         PeerCase{"::1", true}, PeerCase{"::ffff:127.0.0.1", true},
                                         PeerCase{"192.0.2.7", false}, PeerCase{"::2", false},
                                         PeerCase{"2001:db8::1", false}, PeerCase{"", false},
                                         PeerCase{"garbage", false}));

TEST(PlaintextPolicyTest, AllowPlaintextAllowsEveryone) {
  const auto policy = PlaintextPolicy::from_config(config_with(true, {}));
  EXPECT_TRUE(policy.allowed_without_tls("192.0.2.7"));
  EXPECT_TRUE(policy.allowed_without_tls("2001:db8::1"));
}

TEST(PlaintextPolicyTest, EmptyTrustedNetworksTrustNobody) {
  const auto policy = PlaintextPolicy::from_config(config_with(false, {}));
  EXPECT_FALSE(policy.allowed_without_tls("127.0.0.1"));
  EXPECT_FALSE(policy.allowed_without_tls("::1"));
}

TEST(PlaintextPolicyTest, TrustedNetworksAreMatchedByPrefix) {
  const auto policy = PlaintextPolicy::from_config(
      config_with(false, {"192.0.2.0/24", "2001:db8::/32", "10.1.1.1"}));
  EXPECT_TRUE(policy.allowed_without_tls("192.0.2.255"));
  EXPECT_FALSE(policy.allowed_without_tls("192.0.3.0"));
  EXPECT_TRUE(policy.allowed_without_tls("2001:db8:ffff::1"));
  EXPECT_FALSE(policy.allowed_without_tls("2001:db9::1"));
  EXPECT_TRUE(policy.allowed_without_tls("10.1.1.1"));
  EXPECT_FALSE(policy.allowed_without_tls("10.1.1.2"));
  EXPECT_FALSE(policy.allowed_without_tls("127.0.0.1"));
}

class BadNetworkTest : public testing::TestWithParam<std::string> {};

TEST_P(BadNetworkTest, ErrorNamesTheFileTheKeyAndTheEntry) {
  try {
    PlaintextPolicy::from_config(config_with(false, {"127.0.0.0/8", GetParam()}));
    FAIL() << "accepted " << GetParam();
  } catch (const config::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("/etc/postern/test.toml: key 'auth.trusted_networks'"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find(GetParam()), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadNetworkTest,
                         testing::Values("10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
                                         "localhost", "10.0.0", "", "[::1]/128", "1.2.3.4/-1"));

}  // namespace
}  // namespace postern::net
