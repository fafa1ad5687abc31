// CachingPassdb: remembers passwords that verified, so a client that logs in every minute costs a
// keyed BLAKE2b hash instead of a yescrypt or argon2 run (~14 ms of a core each).
//
// What is kept per user: the stored secret the password was checked against and a keyed hash of
// the password (the key is random per process, so the cache holds nothing an attacker could
// test guesses against offline). An entry only counts while the passdb still holds the same
// secret, so a password change or a removed user takes effect at once. Failures are never
// cached: every wrong password costs a full hash, as before. Bounded (oldest entries go first)
// and expiring.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "auth/passdb.hpp"

namespace postern::auth {

class CachingPassdb final : public Passdb {
 public:
  using Clock = std::chrono::steady_clock;

  // ttl <= 0 or max_entries == 0: every verify goes to `inner` (the cache is off).
  CachingPassdb(Passdb& inner, std::chrono::milliseconds ttl, std::size_t max_entries);

  AuthResult verify(std::string_view user, std::string_view password) override;
  std::optional<UserRecord> lookup(std::string_view user) override;

  std::size_t size();
  // Tests move time forward instead of sleeping.
  void set_clock_for_testing(Clock::time_point (*now)()) { now_ = now; }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Entry {
    std::string secret;  // the passdb's stored secret the password was verified against
    Digest password_digest;
    Clock::time_point expires;
    std::uint64_t sequence;  // matches its place in insertion_order_
  };

  Digest digest(std::string_view user, std::string_view password) const;
  bool cached_ok(const UserRecord& record, std::string_view password);
  void remember(const UserRecord& record, std::string_view password);

  Passdb& inner_;
  const std::chrono::milliseconds ttl_;
  const std::size_t max_entries_;
  std::array<unsigned char, 32> key_{};
  Clock::time_point (*now_)() = &Clock::now;

  std::mutex mutex_;  // guards the two below
  std::unordered_map<std::string, Entry> entries_;
  // Eviction queue, oldest first: (name, sequence). A pair whose sequence no longer matches the
  // entry's (dropped, or dropped and added again) is stale and skipped.
  std::deque<std::pair<std::string, std::uint64_t>> insertion_order_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace postern::auth
