// Checks an OAuth 2.0 bearer token that is a JWT (RFC 7519) signed as a compact JWS (RFC 7515)
// with RS256 or ES256 against one configured public key, then its time, issuer and audience.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {

inline constexpr std::chrono::seconds jwt_clock_leeway{60};
inline constexpr std::size_t max_jwt_bytes = 16384;

struct JwtCheck {
  bool valid = false;
  std::string user;    // the config's user_claim, when valid
  std::string reason;  // why not, for the log
};

// Never throws for any token; a config whose key cannot be read gives valid == false.
JwtCheck check_jwt(std::string_view token, const OAuthConfig& config,
                   std::chrono::system_clock::time_point now);

}  // namespace postern::auth::sasl
