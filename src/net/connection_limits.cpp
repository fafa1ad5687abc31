#include "net/connection_limits.hpp"

#include <utility>

namespace postern::net {

ConnectionLimits::ConnectionLimits(LimitSettings settings) : settings_(settings) {}

std::variant<ConnectionLimits::ConnectionTicket, ConnectionLimits::Refusal>
ConnectionLimits::admit_connection(const IpAddress& address) {
  const IpAddress key = unmapped(address);
  const std::lock_guard lock(mutex_);
  if (settings_.connections > 0 && connections_ >= settings_.connections) return Refusal::total;
  auto& from_address = per_address_[key];
  if (settings_.connections_per_address > 0 && from_address >= settings_.connections_per_address) {
    return Refusal::per_address;  // the entry exists, so its count is at least one: keep it
  }
  ++from_address;
  ++connections_;
  return ConnectionTicket(*this, key);
}

std::optional<ConnectionLimits::SessionTicket> ConnectionLimits::admit_session(
    std::string_view user) {
  const std::lock_guard lock(mutex_);
  auto it = per_user_.find(user);
  if (it == per_user_.end()) it = per_user_.emplace(std::string(user), 0).first;
  if (settings_.sessions_per_user > 0 && it->second >= settings_.sessions_per_user) {
    return std::nullopt;
  }
  ++it->second;
  return SessionTicket(*this, std::string(user));
}

std::size_t ConnectionLimits::connections() const {
  const std::lock_guard lock(mutex_);
  return connections_;
}

std::size_t ConnectionLimits::connections_from(const IpAddress& address) const {
  const std::lock_guard lock(mutex_);
  const auto it = per_address_.find(unmapped(address));
  return it == per_address_.end() ? 0 : it->second;
}

std::size_t ConnectionLimits::sessions_of(std::string_view user) const {
  const std::lock_guard lock(mutex_);
  const auto it = per_user_.find(user);
  return it == per_user_.end() ? 0 : it->second;
}

void ConnectionLimits::release_connection(const IpAddress& address) noexcept {
  const std::lock_guard lock(mutex_);
  --connections_;
  const auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

void ConnectionLimits::release_session(const std::string& user) noexcept {
  const std::lock_guard lock(mutex_);
  const auto it = per_user_.find(user);
  if (it != per_user_.end() && --it->second == 0) per_user_.erase(it);
}

// ---- Tickets ----

ConnectionLimits::ConnectionTicket::ConnectionTicket(ConnectionTicket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), address_(other.address_) {}

ConnectionLimits::ConnectionTicket& ConnectionLimits::ConnectionTicket::operator=(
    ConnectionTicket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    address_ = other.address_;
  }
  return *this;
}

void ConnectionLimits::ConnectionTicket::release() noexcept {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->release_connection(address_);
}

ConnectionLimits::SessionTicket::SessionTicket(SessionTicket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), user_(std::move(other.user_)) {}

ConnectionLimits::SessionTicket& ConnectionLimits::SessionTicket::operator=(
    SessionTicket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    user_ = std::move(other.user_);
  }
  return *this;
}

void ConnectionLimits::SessionTicket::release() noexcept {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->release_session(user_);
}

}  // namespace postern::net
