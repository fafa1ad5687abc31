// One POP3 connection: moves bytes between a socket (plain, or TLS from the start or after STLS)
// and a pop3::Session, and carries out the session's requests on the blocking pool.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>

#include "auth/passdb.hpp"
#include "config/config.hpp"
#include "net/access_rules.hpp"
#include "net/blocking_pool.hpp"
#include "net/connection_limits.hpp"
#include "net/login_throttle.hpp"
#include "net/plaintext_policy.hpp"
#include "net/tls_context.hpp"
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
  const PlaintextPolicy& plaintext;
  TlsContexts* tls;  // nullptr when no listener uses TLS
  LoginThrottle& throttle;
  ConnectionLimits& limits;
  const AccessRules& access;
  std::vector<std::string> mechanisms;  // [auth] mechanisms: what AUTH may ever offer
};

// tls: the listener's mode; starttls and implicit need services.tls.
asio::awaitable<void> serve_pop3(asio::ip::tcp::socket socket, const Pop3Services& services,
                                 config::TlsMode tls);

}  // namespace postern::net
