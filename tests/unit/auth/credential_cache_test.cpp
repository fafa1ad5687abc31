#include "auth/credential_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace postern::auth {
namespace {

using namespace std::chrono_literals;

// A passdb with {PLAIN} secrets that counts the verifications it does (the slow path).
class CountingPassdb final : public Passdb {
 public:
  std::map<std::string, std::string, std::less<>> secrets;  // user -> stored secret
  std::atomic<int> verifications{0};

  AuthResult verify(std::string_view user, std::string_view password) override {
    ++verifications;
    const auto found = secrets.find(user);
    if (found == secrets.end()) return {AuthStatus::bad_credentials, "unknown user", {}};
    if (found->second != "{PLAIN}" + std::string(password)) {
      return {AuthStatus::bad_credentials, "wrong password", {}};
    }
    return {AuthStatus::ok, {}, lookup(user)};
  }
  std::optional<UserRecord> lookup(std::string_view user) override {
    const auto found = secrets.find(user);
    if (found == secrets.end()) return std::nullopt;
    UserRecord record;
    record.user = std::string(user);
    record.password = found->second;
    return record;
  }
};

std::chrono::steady_clock::time_point fake_now_value;
std::chrono::steady_clock::time_point fake_now() {
  return fake_now_value;
}

class CachingPassdbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inner.secrets = {{"alice", "{PLAIN}right"}, {"bob", "{PLAIN}other"}};
    fake_now_value = std::chrono::steady_clock::time_point{} + 1000h;
  }
  CountingPassdb inner;
};

TEST_F(CachingPassdbTest, SecondLoginWithTheSamePasswordSkipsTheSlowCheck) {
  CachingPassdb cache(inner, 1h, 100);
  EXPECT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
  const auto second = cache.verify("alice", "right");
  EXPECT_EQ(second.status, AuthStatus::ok);
  ASSERT_TRUE(second.record);
  EXPECT_EQ(second.record->user, "alice");
  EXPECT_EQ(inner.verifications, 1);
}

TEST_F(CachingPassdbTest, AWrongPasswordIsNeverAnsweredFromTheCache) {
  CachingPassdb cache(inner, 1h, 100);
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
  for (const char* guess : {"wrong", "righ", "right ", "", "RIGHT"}) {
    EXPECT_EQ(cache.verify("alice", guess).status, AuthStatus::bad_credentials) << guess;
  }
  EXPECT_EQ(inner.verifications, 6);  // each wrong guess paid the full check
}

TEST_F(CachingPassdbTest, FailuresAreNotCached) {
  CachingPassdb cache(inner, 1h, 100);
  EXPECT_EQ(cache.verify("alice", "wrong").status, AuthStatus::bad_credentials);
  EXPECT_EQ(cache.verify("nobody", "x").status, AuthStatus::bad_credentials);
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(CachingPassdbTest, OnePasswordDoesNotOpenAnotherUsersEntry) {
  inner.secrets["carol"] = "{PLAIN}right";
  CachingPassdb cache(inner, 1h, 100);
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
  EXPECT_EQ(cache.verify("bob", "right").status, AuthStatus::bad_credentials);
  EXPECT_EQ(cache.verify("carol", "right").status, AuthStatus::ok);
  EXPECT_EQ(inner.verifications, 3);
}

TEST_F(CachingPassdbTest, ChangedSecretInvalidatesAtOnce) {
  CachingPassdb cache(inner, 1h, 100);
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
  inner.secrets["alice"] = "{PLAIN}new";
  EXPECT_EQ(cache.verify("alice", "right").status, AuthStatus::bad_credentials);
  EXPECT_EQ(cache.verify("alice", "new").status, AuthStatus::ok);
}

TEST_F(CachingPassdbTest, RemovedUserIsRefusedAtOnce) {
  CachingPassdb cache(inner, 1h, 100);
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
  inner.secrets.erase("alice");
  EXPECT_EQ(cache.verify("alice", "right").status, AuthStatus::bad_credentials);
}

TEST_F(CachingPassdbTest, EntriesExpireAfterTheTtl) {
  CachingPassdb cache(inner, 10min, 100);
  cache.set_clock_for_testing(&fake_now);
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
  fake_now_value += 9min;
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
  EXPECT_EQ(inner.verifications, 1);
  fake_now_value += 2min;
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
  EXPECT_EQ(inner.verifications, 2);
}

TEST_F(CachingPassdbTest, OffWhenTtlOrSizeIsZero) {
  for (auto [ttl, size] : {std::pair{0ms, std::size_t{100}}, std::pair{60000ms, std::size_t{0}}}) {
    inner.verifications = 0;
    CachingPassdb cache(inner, ttl, size);
    ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
    ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);
    EXPECT_EQ(inner.verifications, 2);
    EXPECT_EQ(cache.size(), 0u);
  }
}

TEST_F(CachingPassdbTest, StaysWithinItsSizeDroppingTheOldestFirst) {
  for (int i = 0; i < 50; ++i) inner.secrets["user" + std::to_string(i)] = "{PLAIN}pw";
  CachingPassdb cache(inner, 1h, 10);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) {
      ASSERT_EQ(cache.verify("user" + std::to_string(i), "pw").status, AuthStatus::ok);
      EXPECT_LE(cache.size(), 10u);
    }
  }
  // The ten newest are cached, an older one is not.
  inner.verifications = 0;
  EXPECT_EQ(cache.verify("user49", "pw").status, AuthStatus::ok);
  EXPECT_EQ(cache.verify("user40", "pw").status, AuthStatus::ok);
  EXPECT_EQ(inner.verifications, 0);
  EXPECT_EQ(cache.verify("user0", "pw").status, AuthStatus::ok);
  EXPECT_EQ(inner.verifications, 1);
}

TEST_F(CachingPassdbTest, ReAddedEntriesAreNotEvictedEarly) {
  inner.secrets["carol"] = "{PLAIN}pw";
  CachingPassdb cache(inner, 10min, 2);
  cache.set_clock_for_testing(&fake_now);
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);  // queue: alice
  fake_now_value += 11min;                                           // alice expires
  ASSERT_EQ(cache.verify("alice", "right").status, AuthStatus::ok);  // queue: alice(stale) alice
  ASSERT_EQ(cache.verify("bob", "other").status, AuthStatus::ok);
  ASSERT_EQ(cache.verify("carol", "pw").status, AuthStatus::ok);  // evicts the older of alice, bob
  inner.verifications = 0;
  EXPECT_EQ(cache.verify("carol", "pw").status, AuthStatus::ok);
  EXPECT_EQ(cache.verify("bob", "other").status, AuthStatus::ok);
  EXPECT_EQ(inner.verifications, 0);
}

TEST_F(CachingPassdbTest, ManyThreadsAgree) {
  for (int i = 0; i < 20; ++i) inner.secrets["user" + std::to_string(i)] = "{PLAIN}pw";
  CachingPassdb cache(inner, 1h, 8);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, &wrong, t] {
      for (int i = 0; i < 2000; ++i) {
        const auto user = "user" + std::to_string((i * 7 + t) % 20);
        if (cache.verify(user, "pw").status != AuthStatus::ok) ++wrong;
        if (cache.verify(user, "bad").status != AuthStatus::bad_credentials) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_LE(cache.size(), 8u);
}

}  // namespace
}  // namespace postern::auth
