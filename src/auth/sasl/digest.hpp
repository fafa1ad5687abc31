// The hashes, MACs and key derivation the SASL mechanisms need, over OpenSSL's libcrypto.
// Bytes in and out as std::string; none of these throw except on allocation failure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::auth::sasl {

std::string md5(std::string_view data);
std::string sha256(std::string_view data);
std::string hmac_md5(std::string_view key, std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string pbkdf2_sha256(std::string_view password, std::string_view salt, unsigned iterations);

// Cryptographically random bytes; throws std::runtime_error if the RNG fails.
std::string random_bytes(std::size_t count);

// Time depends only on the lengths, never on where the contents differ.
bool equal_constant_time(std::string_view a, std::string_view b);

std::string to_hex(std::string_view bytes);                 // lower case
std::optional<std::string> from_hex(std::string_view hex);  // either case; nullopt if malformed

}  // namespace postern::auth::sasl
