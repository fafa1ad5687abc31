// Server: the listeners and the event loops. One io_context per thread, each owning the
// connections handed to it; accepting happens on one loop and spreads sockets round-robin.
#pragma once

#include <memory>

#include "auth/passdb.hpp"
#include "config/config.hpp"
#include "delivery/deliverer.hpp"
#include "net/plaintext_policy.hpp"
#include "net/tls_context.hpp"
#include "store/maildrop.hpp"

namespace postern::net {

class ServerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Validates the settings only the network layer can check (CIDR lists, [delivery] lmtp_clients
// included); throws ConfigError.
void check_network_settings(const config::Config& config);

class Server {
 public:
  // tls: the contexts for starttls and implicit listeners (nullptr when none uses TLS); SIGHUP
  // reloads their certificates. deliverer: what the [[lmtp]] listeners deliver with (needed when
  // there are any).
  Server(const config::Config& config, auth::Passdb& passdb, store::MaildropStore& store,
         TlsContexts* tls, const delivery::Deliverer* deliverer = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener (throws ServerError naming the address on failure), then serves
  // until SIGINT or SIGTERM. Returns after a clean shutdown, having removed the LMTP unix
  // sockets it made. SIGHUP re-reads the certificates.
  void run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::net
