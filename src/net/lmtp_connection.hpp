// One LMTP connection (TCP or unix socket): moves bytes between the socket and an lmtp::Session,
// and carries out its recipient checks and deliveries on the blocking pool.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <chrono>
#include <vector>

#include "config/config.hpp"
#include "delivery/deliverer.hpp"
#include "lmtp/session.hpp"
#include "net/blocking_pool.hpp"
#include "net/cidr.hpp"

namespace postern::net {

// What every LMTP connection shares; owned by the Server, outlives the connections.
struct LmtpServices {
  const delivery::Deliverer& deliverer;
  BlockingPool& pool;
  lmtp::SessionOptions session_options;
  std::chrono::milliseconds idle_timeout;
  std::vector<Cidr> clients;  // [delivery] lmtp_clients: the TCP peers served
  config::QuotaExceeded quota_exceeded = config::QuotaExceeded::bounce;
};

// A TCP peer outside services.clients is refused with 421 before the greeting.
asio::awaitable<void> serve_lmtp(asio::ip::tcp::socket socket, const LmtpServices& services);
// Unix socket peers are trusted: the socket file's mode and group decide who may connect.
asio::awaitable<void> serve_lmtp(asio::local::stream_protocol::socket socket,
                                 const LmtpServices& services);

}  // namespace postern::net
