#include "auth/credential_cache.hpp"

#include <sodium.h>

#include <stdexcept>

namespace postern::auth {

CachingPassdb::CachingPassdb(Passdb& inner, std::chrono::milliseconds ttl, std::size_t max_entries)
    : inner_(inner), ttl_(ttl), max_entries_(ttl.count() > 0 ? max_entries : 0) {
  if (::sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  ::randombytes_buf(key_.data(), key_.size());
}

CachingPassdb::Digest CachingPassdb::digest(std::string_view user,
                                            std::string_view password) const {
  // user NUL password: the user name is part of the input so equal passwords of two users
  // differ, and the NUL keeps ("ab","c") apart from ("a","bc") (names never hold NUL).
  crypto_generichash_state state;
  ::crypto_generichash_init(&state, key_.data(), key_.size(), sizeof(Digest));
  ::crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(user.data()),
                              user.size());
  const unsigned char separator = 0;
  ::crypto_generichash_update(&state, &separator, 1);
  ::crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(password.data()),
                              password.size());
  Digest out{};
  ::crypto_generichash_final(&state, out.data(), out.size());
  return out;
}

bool CachingPassdb::cached_ok(const UserRecord& record, std::string_view password) {
  const Digest candidate = digest(record.user, password);
  std::lock_guard lock(mutex_);
  const auto found = entries_.find(record.user);
  if (found == entries_.end()) return false;
  const Entry& entry = found->second;
  if (entry.expires <= now_() || entry.secret != record.password) {
    entries_.erase(found);
    return false;
  }
  return ::sodium_memcmp(entry.password_digest.data(), candidate.data(), candidate.size()) == 0;
}

void CachingPassdb::remember(const UserRecord& record, std::string_view password) {
  Entry entry{record.password, digest(record.user, password), now_() + ttl_, 0};
  std::lock_guard lock(mutex_);
  entry.sequence = next_sequence_++;
  insertion_order_.emplace_back(record.user, entry.sequence);
  entries_.insert_or_assign(record.user, std::move(entry));
  const auto live = [this](const std::pair<std::string, std::uint64_t>& queued) {
    const auto found = entries_.find(queued.first);
    return found != entries_.end() && found->second.sequence == queued.second;
  };
  while (entries_.size() > max_entries_ && !insertion_order_.empty()) {
    if (live(insertion_order_.front())) entries_.erase(insertion_order_.front().first);
    insertion_order_.pop_front();
  }
  // Entries dropped on expiry or re-added leave stale pairs behind: sweep them now and then.
  if (insertion_order_.size() > 2 * max_entries_ + 16) {
    std::erase_if(insertion_order_, [&live](const auto& queued) { return !live(queued); });
  }
}

AuthResult CachingPassdb::verify(std::string_view user, std::string_view password) {
  if (max_entries_ == 0) return inner_.verify(user, password);
  if (auto record = inner_.lookup(user); record && !record->password.empty()) {
    if (cached_ok(*record, password)) return AuthResult{AuthStatus::ok, {}, std::move(record)};
  }
  AuthResult result = inner_.verify(user, password);
  if (result.status == AuthStatus::ok && result.record) remember(*result.record, password);
  return result;
}

std::optional<UserRecord> CachingPassdb::lookup(std::string_view user) {
  return inner_.lookup(user);
}

std::size_t CachingPassdb::size() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace postern::auth
