// One POP3 connection: moves bytes between a socket and a pop3::Session and carries out the
// session's requests (authentication, maildrop access) on the blocking pool.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>

#include "auth/passdb.hpp"
#include "net/blocking_pool.hpp"
#include "pop3/session.hpp"
#include "store/maildrop.hpp"

namespace postern::net {

// What every connection of one listener shares; owned by the Server, outlives the connections.
struct Pop3Services {
  auth::Passdb& passdb;
  store::MaildropStore& store;
  BlockingPool& pool;
  pop3::SessionOptions session_options;
  std::chrono::milliseconds idle_timeout;
};

asio::awaitable<void> serve_pop3(asio::ip::tcp::socket socket, const Pop3Services& services);

}  // namespace postern::net
