// CachingPassdb hammered from several threads while passwords change, entries expire and the
// table overflows: whatever the interleaving, a login with the password the passdb holds right
// now succeeds, and one with the password it held before fails.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/credential_cache.hpp"

namespace postern::auth {
namespace {

using namespace std::chrono_literals;

constexpr int user_count = 12;

std::string user_name(int i) {
  return "user" + std::to_string(i);
}

std::string password_of(int user, unsigned generation) {
  return "pw-" + std::to_string(user) + "-" + std::to_string(generation);
}

// A passdb whose secrets another thread changes. Each user has a change counter that is odd
// while a change is under way (a seqlock): a reader that sees the same even value before and
// after its calls knows that password_of(user, counter / 2) was current throughout.
class ChangingPassdb final : public Passdb {
 public:
  ChangingPassdb() {
    for (int i = 0; i < user_count; ++i) secrets_[user_name(i)] = "{PLAIN}" + password_of(i, 0);
  }

  void change_password(int user) {
    const unsigned next = counters_[user].load() + 1;  // odd: changing
    counters_[user].store(next);
    {
      const std::lock_guard lock(mutex_);
      secrets_[user_name(user)] = "{PLAIN}" + password_of(user, (next + 1) / 2);
    }
    counters_[user].store(next + 1);
  }
  unsigned counter(int user) const { return counters_[user].load(); }

  AuthResult verify(std::string_view user, std::string_view password) override {
    auto record = lookup(user);  // one consistent copy: the secret checked is the one returned
    if (!record) return {AuthStatus::bad_credentials, "unknown user", {}};
    if (record->password != "{PLAIN}" + std::string(password)) {
      return {AuthStatus::bad_credentials, "wrong password", {}};
    }
    return {AuthStatus::ok, {}, std::move(record)};
  }

  std::optional<UserRecord> lookup(std::string_view user) override {
    const std::lock_guard lock(mutex_);
    const auto found = secrets_.find(std::string(user));
    if (found == secrets_.end()) return std::nullopt;
    UserRecord record;
    record.user = found->first;
    record.password = found->second;
    return record;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::string> secrets_;
  std::array<std::atomic<unsigned>, user_count> counters_{};
};

// The cache's clock, moved forward by a thread of its own (so entries expire mid-run).
std::atomic<std::int64_t> clock_ticks{0};
CachingPassdb::Clock::time_point shared_now() {
  return CachingPassdb::Clock::time_point{} + 1000h + std::chrono::milliseconds(clock_ticks.load());
}

struct Verdicts {
  std::atomic<int> current_refused{0};  // the password held throughout the call was refused
  std::atomic<int> old_accepted{0};     // a replaced password was accepted
  std::atomic<int> checked{0};
};

void log_in_repeatedly(CachingPassdb& cache, ChangingPassdb& inner, int thread, Verdicts& out) {
  for (int i = 0; i < 1500; ++i) {
    const int user = (i * 5 + thread) % user_count;
    const unsigned before = inner.counter(user);
    if (before % 2 != 0) continue;  // a change is under way
    const unsigned generation = before / 2;
    const auto current = cache.verify(user_name(user), password_of(user, generation));
    const auto old = generation > 0
                         ? cache.verify(user_name(user), password_of(user, generation - 1))
                         : AuthResult{};
    if (inner.counter(user) != before) continue;  // changed meanwhile: either answer is fine
    ++out.checked;
    if (current.status != AuthStatus::ok || !current.record ||
        current.record->user != user_name(user)) {
      ++out.current_refused;
    }
    if (old.status == AuthStatus::ok) ++out.old_accepted;
  }
}

TEST(CachingPassdbConcurrency, PasswordsChangeWhileThreadsLogIn) {
  ChangingPassdb inner;
  clock_ticks = 0;
  // Fewer entries than users, so eviction runs all the time; a 50 ms lifetime against a clock
  // moving 20 ms a step, so entries expire all the time.
  CachingPassdb cache(inner, 50ms, 5);
  cache.set_clock_for_testing(&shared_now);

  std::atomic<bool> done{false};
  std::thread changer([&] {
    for (unsigned step = 0; !done.load(); ++step) {
      inner.change_password(static_cast<int>(step % user_count));
      clock_ticks += 20;
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  Verdicts verdicts;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] { log_in_repeatedly(cache, inner, t, verdicts); });
  }
  for (auto& client : clients) client.join();
  done = true;
  changer.join();

  EXPECT_EQ(verdicts.current_refused.load(), 0);
  EXPECT_EQ(verdicts.old_accepted.load(), 0);
  EXPECT_GT(verdicts.checked.load(), 0);
  EXPECT_LE(cache.size(), 5u);
}

// The server's pattern for one busy account: many sessions of the same user at once, all with
// the right password, while the entry is dropped and re-added under them.
TEST(CachingPassdbConcurrency, OneUserFromManyThreads) {
  ChangingPassdb inner;
  clock_ticks = 0;
  CachingPassdb cache(inner, 1h, 1);
  cache.set_clock_for_testing(&shared_now);
  std::atomic<int> refused{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        // Two users through a one-entry cache: each login evicts the other's entry.
        const int user = (i + t) % 2;
        if (cache.verify(user_name(user), password_of(user, 0)).status != AuthStatus::ok) {
          ++refused;
        }
        if (cache.verify(user_name(user), "wrong").status != AuthStatus::bad_credentials) {
          ++refused;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace postern::auth
