// Brute-force defence per client address: a growing delay before each failed-login reply, and
// refusal of new connections from an address that failed too often. Pure and clock-injected.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "net/cidr.hpp"

namespace postern::net {

// ---- Addresses as hash keys (shared with ConnectionLimits) ----

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers)
// becomes the IPv4 address, so one client is one key however it reached us.
IpAddress unmapped(const IpAddress& address);

struct IpAddressEqual {
  bool operator()(const IpAddress& a, const IpAddress& b) const {
    return a.v6 == b.v6 && a.bytes == b.bytes;
  }
};

// Seeded per process: the keys come from strangers, who must not be able to pick addresses
// that all land in one bucket.
struct IpAddressHash {
  std::size_t operator()(const IpAddress& address) const;
};

// ---- The throttle ----

struct ThrottleSettings {
  std::chrono::milliseconds failure_delay{2000};  // 0: no delay at all
  std::chrono::milliseconds max_delay{15000};     // below failure_delay: no doubling
  unsigned refuse_after = 20;                     // 0: never refuse
  std::chrono::seconds window{600};
  std::chrono::seconds refuse_for{900};
  std::size_t max_tracked = 100000;  // 0 is taken as 1
};

// Keyed by address; IPv6 addresses by their /64, since whoever holds one address of a /64
// usually holds all of it. An address is forgotten once it has had no failure for `window`
// and is not refused. When more than max_tracked addresses are remembered, the one whose last
// failure is oldest is forgotten first (so a flood of fresh addresses can push out an old
// refusal: the bound on memory wins over the refusal).
//
// Thread-safe: every call takes one mutex and does O(1) amortised work.
class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  explicit LoginThrottle(ThrottleSettings settings);

  // Records a failed authentication and returns how long to wait before replying:
  // failure_delay doubled per consecutive failure from that address, capped at max_delay
  // (2 s, 4 s, 8 s, 15 s, 15 s, … with the defaults); zero when failure_delay is zero.
  // The consecutive count resets on success and when the address is forgotten.
  std::chrono::milliseconds record_failure(const IpAddress& address, TimePoint now);

  // A successful login resets the consecutive count (the delay), but not the failures that
  // count towards refusal: an attacker holding one valid account cannot wash them out.
  void record_success(const IpAddress& address, TimePoint now);

  // True when the address had refuse_after failures within `window` and refuse_for has not
  // yet passed since its last failure: the connection is to be closed before the greeting.
  bool is_refused(const IpAddress& address, TimePoint now);

  // How many addresses (or /64s) are remembered now.
  std::size_t tracked() const;

 private:
  struct Entry {
    IpAddress key;
    unsigned consecutive = 0;
    TimePoint last_failure{};
    TimePoint refused_until{};
    std::vector<TimePoint> recent;  // failures within `window`, oldest first, at most refuse_after
  };
  using Order = std::list<Entry>;  // oldest last failure first

  bool expired(const Entry& entry, TimePoint now) const;
  void forget_expired(TimePoint now);
  Order::iterator find(const IpAddress& key);

  const ThrottleSettings settings_;
  mutable std::mutex mutex_;
  Order order_;
  std::unordered_map<IpAddress, Order::iterator, IpAddressHash, IpAddressEqual> index_;
};

}  // namespace postern::net
