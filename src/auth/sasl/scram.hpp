// SCRAM-SHA-256 (RFC 5802, RFC 7677) and SCRAM-SHA-256-PLUS with tls-exporter channel binding
// (RFC 9266). Keys come from a stored {SCRAM-SHA-256} secret, or are derived from {PLAIN} ones.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {

// Iterations used when keys are derived from a plaintext secret (RFC 7677's minimum).
inline constexpr unsigned scram_derived_iterations = 4096;

struct ScramOptions {
  SecretLookup lookup;
  // Set for SCRAM-SHA-256-PLUS: the connection's tls-exporter value, which the client must bind.
  std::optional<std::string> plus_binding;
  // True when this connection also offers -PLUS: then a client's "y" flag means a downgrade.
  bool server_offers_plus = false;
  std::function<std::string()> nonce_source;  // empty: random
};

std::unique_ptr<Mechanism> make_scram_sha256(ScramOptions options);

}  // namespace postern::auth::sasl
