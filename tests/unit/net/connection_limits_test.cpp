// Connection and session caps: each cap refuses at its limit, a destroyed (or moved-from and
// then destroyed) ticket gives its slot back exactly once, and threads may race freely.
#include "net/connection_limits.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace postern::net {
namespace {

using Ticket = ConnectionLimits::ConnectionTicket;
using Refusal = ConnectionLimits::Refusal;

IpAddress ip(const std::string& text) {
  const auto address = parse_ip(text);
  if (!address) throw std::invalid_argument(text);
  return *address;
}

Ticket admit(ConnectionLimits& limits, const IpAddress& address) {
  auto result = limits.admit_connection(address);
  if (auto* ticket = std::get_if<Ticket>(&result)) return std::move(*ticket);
  throw std::runtime_error("refused");
}

Refusal refusal(ConnectionLimits& limits, const IpAddress& address) {
  const auto result = limits.admit_connection(address);
  const auto* why = std::get_if<Refusal>(&result);
  return why ? *why : Refusal::none;
}

TEST(ConnectionLimits, TotalCap) {
  ConnectionLimits limits({.connections = 3, .connections_per_address = 0, .sessions_per_user = 0});
  std::vector<Ticket> held;
  for (int i = 1; i <= 3; ++i) held.push_back(admit(limits, ip("192.0.2." + std::to_string(i))));
  EXPECT_EQ(limits.connections(), 3u);
  EXPECT_EQ(refusal(limits, ip("192.0.2.99")), Refusal::total);
  held.pop_back();
  EXPECT_EQ(limits.connections(), 2u);
  EXPECT_EQ(refusal(limits, ip("192.0.2.99")), Refusal::none);  // and released again at once
  EXPECT_EQ(limits.connections(), 2u);
}

TEST(ConnectionLimits, PerAddressCap) {
  ConnectionLimits limits(
      {.connections = 100, .connections_per_address = 2, .sessions_per_user = 0});
  auto a = admit(limits, ip("192.0.2.1"));
  auto b = admit(limits, ip("192.0.2.1"));
  EXPECT_EQ(refusal(limits, ip("192.0.2.1")), Refusal::per_address);
  EXPECT_EQ(limits.connections_from(ip("192.0.2.1")), 2u);
  auto c = admit(limits, ip("192.0.2.2"));  // another address is not affected
  a.release();
  EXPECT_EQ(limits.connections_from(ip("192.0.2.1")), 1u);
  auto d = admit(limits, ip("192.0.2.1"));
  EXPECT_EQ(limits.connections(), 3u);
}

TEST(ConnectionLimits, TotalIsCheckedBeforePerAddress) {
  ConnectionLimits limits({.connections = 1, .connections_per_address = 1, .sessions_per_user = 0});
  auto a = admit(limits, ip("192.0.2.1"));
  EXPECT_EQ(refusal(limits, ip("192.0.2.1")), Refusal::total);
}

TEST(ConnectionLimits, PerAddressIsExactForIpv6AndMappedIpv4IsIpv4) {
  ConnectionLimits limits({.connections = 0, .connections_per_address = 1, .sessions_per_user = 0});
  auto a = admit(limits, ip("2001:db8::1"));
  auto b = admit(limits, ip("2001:db8::2"));  // same /64, different address: admitted
  EXPECT_EQ(refusal(limits, ip("2001:db8::1")), Refusal::per_address);
  auto c = admit(limits, ip("192.0.2.1"));
  IpAddress mapped;
  mapped.v6 = true;
  mapped.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  EXPECT_EQ(refusal(limits, mapped), Refusal::per_address);
}

TEST(ConnectionLimits, ZeroMeansUnlimited) {
  ConnectionLimits limits({.connections = 0, .connections_per_address = 0, .sessions_per_user = 0});
  std::vector<Ticket> held;
  for (int i = 0; i < 1000; ++i) held.push_back(admit(limits, ip("192.0.2.1")));
  std::vector<ConnectionLimits::SessionTicket> sessions;
  for (int i = 0; i < 1000; ++i) sessions.push_back(*limits.admit_session("alice"));
  EXPECT_EQ(limits.connections(), 1000u);
  EXPECT_EQ(limits.sessions_of("alice"), 1000u);
}

TEST(ConnectionLimits, SessionsPerUser) {
  ConnectionLimits limits({.connections = 0, .connections_per_address = 0, .sessions_per_user = 2});
  auto first = limits.admit_session("alice");
  auto second = limits.admit_session("alice");
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(limits.admit_session("alice"));
  EXPECT_TRUE(limits.admit_session("bob"));  // and released again at once
  EXPECT_EQ(limits.sessions_of("bob"), 0u);
  first.reset();
  EXPECT_EQ(limits.sessions_of("alice"), 1u);
  EXPECT_TRUE(limits.admit_session("alice"));
}

TEST(ConnectionLimits, MovedTicketsReleaseOnce) {
  ConnectionLimits limits({.connections = 2, .connections_per_address = 0, .sessions_per_user = 1});
  {
    auto a = admit(limits, ip("192.0.2.1"));
    Ticket b = std::move(a);
    EXPECT_FALSE(a.holds());  // NOLINT(bugprone-use-after-move): the moved-from state is the test
    EXPECT_TRUE(b.holds());
    EXPECT_EQ(limits.connections(), 1u);
    auto c = admit(limits, ip("192.0.2.2"));
    b = std::move(c);  // b's own slot is released, c's carried over
    EXPECT_EQ(limits.connections(), 1u);
    EXPECT_EQ(limits.connections_from(ip("192.0.2.1")), 0u);
    EXPECT_EQ(limits.connections_from(ip("192.0.2.2")), 1u);
    b.release();
    b.release();
    EXPECT_EQ(limits.connections(), 0u);
  }
  EXPECT_EQ(limits.connections(), 0u);
  {
    auto s = *limits.admit_session("alice");
    auto t = std::move(s);
    EXPECT_FALSE(limits.admit_session("alice"));
    ConnectionLimits::SessionTicket u = std::move(t);
    EXPECT_EQ(limits.sessions_of("alice"), 1u);
  }
  EXPECT_EQ(limits.sessions_of("alice"), 0u);
}

TEST(ConnectionLimits, TicketsReleasedFromOtherThreads) {
  ConnectionLimits limits(
      {.connections = 64, .connections_per_address = 8, .sessions_per_user = 4});
  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t) {
    workers.emplace_back([&limits, t] {
      const auto address = ip("192.0.2." + std::to_string(t % 4));
      for (int i = 0; i < 2000; ++i) {
        auto result = limits.admit_connection(address);
        auto session = limits.admit_session(t % 2 ? "alice" : "bob");
        if (auto* ticket = std::get_if<Ticket>(&result)) {
          std::thread releaser([moved = std::move(*ticket)]() mutable { moved.release(); });
          releaser.join();
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(limits.connections(), 0u);
  EXPECT_EQ(limits.connections_from(ip("192.0.2.1")), 0u);
  EXPECT_EQ(limits.sessions_of("alice"), 0u);
}

}  // namespace
}  // namespace postern::net
