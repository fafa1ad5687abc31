// Caps on connections in total and per client address, and on sessions per user, handed out
// as RAII tickets: whoever holds a ticket holds a slot, and destroying the ticket frees it.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "net/cidr.hpp"
#include "net/login_throttle.hpp"  // IpAddressHash, IpAddressEqual, unmapped

namespace postern::net {

struct LimitSettings {  // 0 = unlimited
  std::size_t connections = 10000;
  std::size_t connections_per_address = 50;
  std::size_t sessions_per_user = 10;
};

// Connections are counted per exact address (IPv4-mapped IPv6 counted as the IPv4 address),
// not per IPv6 /64 as LoginThrottle does: this cap is about fairness between clients, and a
// /64 is routinely shared by many honest machines behind one router, while the throttle is
// about strangers guessing passwords.
//
// Thread-safe; tickets may be destroyed on any thread. The ConnectionLimits object must
// outlive every ticket it hands out (the server owns it and stops all loops first).
class ConnectionLimits {
 public:
  explicit ConnectionLimits(LimitSettings settings);
  ConnectionLimits(const ConnectionLimits&) = delete;
  ConnectionLimits& operator=(const ConnectionLimits&) = delete;

  enum class Refusal { none, total, per_address };

  class ConnectionTicket {
   public:
    ConnectionTicket(ConnectionTicket&& other) noexcept;
    ConnectionTicket& operator=(ConnectionTicket&& other) noexcept;
    ~ConnectionTicket() { release(); }
    void release() noexcept;  // frees the slot now; later calls do nothing
    bool holds() const { return owner_ != nullptr; }

   private:
    friend class ConnectionLimits;
    ConnectionTicket(ConnectionLimits& owner, const IpAddress& address)
        : owner_(&owner), address_(address) {}
    ConnectionLimits* owner_;
    IpAddress address_;
  };

  class SessionTicket {
   public:
    SessionTicket(SessionTicket&& other) noexcept;
    SessionTicket& operator=(SessionTicket&& other) noexcept;
    ~SessionTicket() { release(); }
    void release() noexcept;
    bool holds() const { return owner_ != nullptr; }

   private:
    friend class ConnectionLimits;
    SessionTicket(ConnectionLimits& owner, std::string user)
        : owner_(&owner), user_(std::move(user)) {}
    ConnectionLimits* owner_;
    std::string user_;
  };

  // A ticket, or which cap refused the connection (the total cap is checked first).
  std::variant<ConnectionTicket, Refusal> admit_connection(const IpAddress& address);

  // nullopt: the user already has sessions_per_user sessions. Pass the canonical user name
  // (the passdb record's), so that different spellings of one user share one count.
  std::optional<SessionTicket> admit_session(std::string_view user);

  std::size_t connections() const;
  std::size_t connections_from(const IpAddress& address) const;
  std::size_t sessions_of(std::string_view user) const;

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const {
      return std::hash<std::string_view>{}(name);
    }
  };

  void release_connection(const IpAddress& address) noexcept;
  void release_session(const std::string& user) noexcept;

  const LimitSettings settings_;
  mutable std::mutex mutex_;
  std::size_t connections_ = 0;
  std::unordered_map<IpAddress, std::size_t, IpAddressHash, IpAddressEqual> per_address_;
  std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> per_user_;
};

}  // namespace postern::net
