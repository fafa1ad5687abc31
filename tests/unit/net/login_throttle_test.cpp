// The brute-force throttle with a hand-moved clock: the delay curve, its reset, refusal after
// many failures in a sliding window, IPv6 grouped by /64, the bound on memory, and threads.
#include "net/login_throttle.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace postern::net {
namespace {

using namespace std::chrono_literals;
using TimePoint = LoginThrottle::TimePoint;

const TimePoint start = TimePoint{} + 1000h;  // far from the clock's epoch, like a real one

IpAddress ip(const std::string& text) {
  const auto address = parse_ip(text);
  if (!address) throw std::invalid_argument(text);
  return *address;
}

IpAddress ipv4(std::uint32_t n) {
  IpAddress address;
  address.bytes = {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                   static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  return address;
}

TEST(LoginThrottle, DelayDoublesPerConsecutiveFailureUpToTheCap) {
  LoginThrottle throttle({});
  const auto client = ip("192.0.2.7");
  const std::vector<std::chrono::milliseconds> expected = {2s, 4s, 8s, 15s, 15s, 15s};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(throttle.record_failure(client, start + std::chrono::seconds(i)), expected[i])
        << "failure " << i + 1;
  }
}

TEST(LoginThrottle, DelayIsPerAddress) {
  LoginThrottle throttle({});
  EXPECT_EQ(throttle.record_failure(ip("192.0.2.7"), start), 2s);
  EXPECT_EQ(throttle.record_failure(ip("192.0.2.7"), start), 4s);
  EXPECT_EQ(throttle.record_failure(ip("192.0.2.8"), start), 2s);
}

TEST(LoginThrottle, ZeroFailureDelayTurnsTheDelayOff) {
  ThrottleSettings settings;
  settings.failure_delay = 0ms;
  LoginThrottle throttle(settings);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(throttle.record_failure(ip("192.0.2.7"), start), 0ms);
}

TEST(LoginThrottle, MaxDelayBelowFailureDelayMeansNoDoubling) {
  ThrottleSettings settings;
  settings.failure_delay = 3s;
  settings.max_delay = 1s;
  LoginThrottle throttle(settings);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(throttle.record_failure(ip("192.0.2.7"), start), 3s);
}

TEST(LoginThrottle, SuccessResetsTheDelay) {
  LoginThrottle throttle({});
  const auto client = ip("192.0.2.7");
  throttle.record_failure(client, start);
  throttle.record_failure(client, start + 1s);
  EXPECT_EQ(throttle.record_failure(client, start + 2s), 8s);
  throttle.record_success(client, start + 3s);
  EXPECT_EQ(throttle.record_failure(client, start + 4s), 2s);
}

TEST(LoginThrottle, DelayResetsWhenTheAddressIsForgotten) {
  LoginThrottle throttle({});  // window 600 s
  const auto client = ip("192.0.2.7");
  throttle.record_failure(client, start);
  EXPECT_EQ(throttle.record_failure(client, start + 599s), 4s);
  EXPECT_EQ(throttle.record_failure(client, start + 599s + 600s), 2s);
}

TEST(LoginThrottle, RefusesAfterTooManyFailuresWithinTheWindow) {
  ThrottleSettings settings;
  settings.refuse_after = 5;
  settings.window = 60s;
  settings.refuse_for = 300s;
  LoginThrottle throttle(settings);
  const auto client = ip("198.51.100.1");
  for (int i = 0; i < 4; ++i) throttle.record_failure(client, start + std::chrono::seconds(i));
  EXPECT_FALSE(throttle.is_refused(client, start + 4s));
  throttle.record_failure(client, start + 4s);  // the fifth within a minute
  EXPECT_TRUE(throttle.is_refused(client, start + 4s));
  EXPECT_TRUE(throttle.is_refused(client, start + 4s + 299s));
  EXPECT_FALSE(throttle.is_refused(client, start + 4s + 300s));
  EXPECT_FALSE(throttle.is_refused(ip("198.51.100.2"), start + 5s));
}

TEST(LoginThrottle, RefusalRunsFromTheLastFailure) {
  ThrottleSettings settings;
  settings.refuse_after = 3;
  settings.window = 60s;
  settings.refuse_for = 100s;
  LoginThrottle throttle(settings);
  const auto client = ip("198.51.100.1");
  for (int i = 0; i < 3; ++i) throttle.record_failure(client, start);
  throttle.record_failure(client, start + 50s);  // a session opened before the refusal
  EXPECT_TRUE(throttle.is_refused(client, start + 149s));
  EXPECT_FALSE(throttle.is_refused(client, start + 150s));
}

TEST(LoginThrottle, SuccessDoesNotWashOutFailuresTowardsRefusal) {
  ThrottleSettings settings;
  settings.refuse_after = 3;
  LoginThrottle throttle(settings);
  const auto client = ip("198.51.100.1");
  throttle.record_failure(client, start);
  throttle.record_failure(client, start + 1s);
  throttle.record_success(client, start + 2s);
  throttle.record_failure(client, start + 3s);
  EXPECT_TRUE(throttle.is_refused(client, start + 3s));
}

TEST(LoginThrottle, WindowSlides) {
  ThrottleSettings settings;
  settings.refuse_after = 3;
  settings.window = 60s;
  LoginThrottle throttle(settings);
  const auto client = ip("198.51.100.1");
  // One failure every 30 s: never three within 60 s.
  for (int i = 0; i < 10; ++i) {
    throttle.record_failure(client, start + std::chrono::seconds(30 * i));
    EXPECT_FALSE(throttle.is_refused(client, start + std::chrono::seconds(30 * i))) << i;
  }
  // Now one 29 s after the last: the last three fall within 60 s.
  throttle.record_failure(client, start + 270s + 29s);
  EXPECT_TRUE(throttle.is_refused(client, start + 300s));
}

TEST(LoginThrottle, RefusalOffWhenRefuseAfterIsZero) {
  ThrottleSettings settings;
  settings.refuse_after = 0;
  LoginThrottle throttle(settings);
  const auto client = ip("198.51.100.1");
  for (int i = 0; i < 1000; ++i) throttle.record_failure(client, start);
  EXPECT_FALSE(throttle.is_refused(client, start));
}

TEST(LoginThrottle, Ipv6IsGroupedBySlash64) {
  ThrottleSettings settings;
  settings.refuse_after = 3;
  LoginThrottle throttle(settings);
  EXPECT_EQ(throttle.record_failure(ip("2001:db8:1:2::1"), start), 2s);
  EXPECT_EQ(throttle.record_failure(ip("2001:db8:1:2::2"), start), 4s);
  EXPECT_EQ(throttle.record_failure(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), start), 8s);
  EXPECT_TRUE(throttle.is_refused(ip("2001:db8:1:2:abcd::9"), start));
  EXPECT_FALSE(throttle.is_refused(ip("2001:db8:1:3::1"), start));  // the next /64
  EXPECT_EQ(throttle.record_failure(ip("2001:db8:1:3::1"), start), 2s);
  EXPECT_EQ(throttle.tracked(), 2u);
}

TEST(LoginThrottle, Ipv4IsPerAddressAndMappedIpv4IsIpv4) {
  ThrottleSettings settings;
  settings.refuse_after = 2;
  LoginThrottle throttle(settings);
  IpAddress mapped;  // ::ffff:192.0.2.1 as a dual-stack socket reports it
  mapped.v6 = true;
  mapped.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  throttle.record_failure(ip("192.0.2.1"), start);
  throttle.record_failure(mapped, start);
  EXPECT_TRUE(throttle.is_refused(ip("192.0.2.1"), start));
  EXPECT_FALSE(throttle.is_refused(ip("192.0.2.2"), start));
  EXPECT_EQ(throttle.tracked(), 1u);
}

TEST(LoginThrottle, ExpiredAddressesAreForgotten) {
  ThrottleSettings settings;
  settings.window = 60s;
  settings.refuse_after = 2;
  settings.refuse_for = 120s;
  LoginThrottle throttle(settings);
  throttle.record_failure(ip("192.0.2.1"), start);  // refused until start + 120 s
  throttle.record_failure(ip("192.0.2.1"), start);
  throttle.record_failure(ip("192.0.2.2"), start + 10s);
  EXPECT_EQ(throttle.tracked(), 2u);
  EXPECT_FALSE(throttle.is_refused(ip("192.0.2.3"), start + 130s));
  EXPECT_EQ(throttle.tracked(), 0u);
}

TEST(LoginThrottle, MemoryIsBounded) {
  ThrottleSettings settings;
  settings.max_tracked = 1000;
  LoginThrottle throttle(settings);
  for (std::uint32_t i = 0; i < 200000; ++i) {
    throttle.record_failure(ipv4(0x0a000000 + i), start + std::chrono::milliseconds(i));
    ASSERT_LE(throttle.tracked(), 1000u);
  }
  EXPECT_EQ(throttle.tracked(), 1000u);
  // The most recent are the ones kept.
  EXPECT_EQ(throttle.record_failure(ipv4(0x0a000000 + 199999), start + 200s), 4s);
  EXPECT_EQ(throttle.record_failure(ipv4(0x0a000000), start + 200s), 2s);
}

TEST(LoginThrottle, ManyThreadsAtOnce) {
  ThrottleSettings settings;
  settings.refuse_after = 1000000;
  settings.max_tracked = 500;
  LoginThrottle throttle(settings);
  constexpr int threads = 8;
  constexpr int rounds = 5000;
  std::atomic<int> refused{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < rounds; ++i) {
        const auto client = ipv4(0xc0000200 + static_cast<std::uint32_t>((t * rounds + i) % 700));
        const auto now = start + std::chrono::milliseconds(i);
        throttle.record_failure(client, now);
        if (i % 3 == 0) throttle.record_success(client, now);
        if (throttle.is_refused(client, now)) ++refused;
      }
    });
  }
  for (auto& worker : workers) worker.join();
  EXPECT_EQ(refused.load(), 0);
  EXPECT_LE(throttle.tracked(), 500u);
  EXPECT_GT(throttle.tracked(), 0u);
}

}  // namespace
}  // namespace postern::net
