#include "net/login_throttle.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>

namespace postern::net {

namespace {

std::uint64_t mix(std::uint64_t x) {  // a 64-bit finaliser: every input bit moves every output bit
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

std::uint64_t hash_seed() {
  static const std::uint64_t seed = [] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  }();
  return seed;
}

// The key an address is throttled under: IPv6 by its /64.
IpAddress throttle_key(const IpAddress& address) {
  IpAddress key = unmapped(address);
  if (key.v6) std::fill(key.bytes.begin() + 8, key.bytes.end(), std::uint8_t{0});
  return key;
}

}  // namespace

IpAddress unmapped(const IpAddress& address) {
  static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!address.v6 || std::memcmp(address.bytes.data(), mapped_prefix, 12) != 0) return address;
  IpAddress v4;
  std::copy_n(address.bytes.begin() + 12, 4, v4.bytes.begin());
  return v4;
}

std::size_t IpAddressHash::operator()(const IpAddress& address) const {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  std::memcpy(&high, address.bytes.data(), 8);
  std::memcpy(&low, address.bytes.data() + 8, 8);
  const std::uint64_t h = mix(mix(high ^ hash_seed()) ^ low ^ (address.v6 ? 1 : 0));
  return static_cast<std::size_t>(h);
}

LoginThrottle::LoginThrottle(ThrottleSettings settings) : settings_(settings) {}

std::chrono::milliseconds LoginThrottle::record_failure(const IpAddress& address, TimePoint now) {
  const IpAddress key = throttle_key(address);
  const std::lock_guard lock(mutex_);
  forget_expired(now);
  auto it = find(key);
  if (it == order_.end()) {
    order_.push_back(Entry{key, 0, now, TimePoint{}, {}});
    it = std::prev(order_.end());
    index_.emplace(key, it);
  } else {
    if (expired(*it, now)) it->consecutive = 0;  // forgotten in all but memory
    order_.splice(order_.end(), order_, it);     // now the most recent
  }

  Entry& entry = *it;
  entry.last_failure = now;
  if (entry.consecutive < 64) ++entry.consecutive;  // enough to saturate any delay
  if (settings_.refuse_after > 0) {
    const auto cutoff = now - settings_.window;
    auto& recent = entry.recent;
    recent.erase(recent.begin(), std::find_if(recent.begin(), recent.end(),
                                              [cutoff](TimePoint t) { return t > cutoff; }));
    if (recent.size() >= settings_.refuse_after) recent.erase(recent.begin());
    recent.push_back(now);
    if (recent.size() >= settings_.refuse_after) entry.refused_until = now + settings_.refuse_for;
  }

  const std::size_t limit = std::max<std::size_t>(settings_.max_tracked, 1);
  while (order_.size() > limit) {
    index_.erase(order_.front().key);
    order_.pop_front();
  }

  if (settings_.failure_delay <= std::chrono::milliseconds::zero()) return {};
  const auto cap = std::max(settings_.max_delay, settings_.failure_delay);
  auto delay = settings_.failure_delay;
  for (unsigned i = 1; i < entry.consecutive && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

void LoginThrottle::record_success(const IpAddress& address, TimePoint now) {
  const IpAddress key = throttle_key(address);
  const std::lock_guard lock(mutex_);
  forget_expired(now);
  if (const auto it = find(key); it != order_.end()) it->consecutive = 0;
}

bool LoginThrottle::is_refused(const IpAddress& address, TimePoint now) {
  const IpAddress key = throttle_key(address);
  const std::lock_guard lock(mutex_);
  forget_expired(now);
  const auto it = find(key);
  return it != order_.end() && now < it->refused_until;
}

std::size_t LoginThrottle::tracked() const {
  const std::lock_guard lock(mutex_);
  return order_.size();
}

bool LoginThrottle::expired(const Entry& entry, TimePoint now) const {
  return now - entry.last_failure >= settings_.window && now >= entry.refused_until;
}

// Entries are in order of last failure, so the expired ones gather at the front. A refused
// entry there can shelter a few expired ones behind it until its refusal ends; that costs a
// little memory, never correctness (each lookup checks the entry it finds).
void LoginThrottle::forget_expired(TimePoint now) {
  while (!order_.empty() && expired(order_.front(), now)) {
    index_.erase(order_.front().key);
    order_.pop_front();
  }
}

LoginThrottle::Order::iterator LoginThrottle::find(const IpAddress& key) {
  const auto it = index_.find(key);
  if (it == index_.end()) return order_.end();
  return it->second;
}

}  // namespace postern::net
