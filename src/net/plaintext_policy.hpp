// PlaintextPolicy: whether a peer may send USER/PASS before TLS protects the connection
// ([auth] allow_plaintext, or a peer inside [auth] trusted_networks).
#pragma once

#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "net/cidr.hpp"

namespace postern::net {

class PlaintextPolicy {
 public:
  // Throws config::ConfigError naming auth.trusted_networks and the entry it cannot read.
  static PlaintextPolicy from_config(const config::Config& config);

  // peer: an IP address as text ("192.0.2.7", "::1", "::ffff:192.0.2.7").
  bool allowed_without_tls(std::string_view peer) const;

 private:
  bool allow_plaintext_ = false;
  std::vector<Cidr> trusted_;
};

}  // namespace postern::net
