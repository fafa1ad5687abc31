// Base64 (RFC 4648 section 4) for SCRAM attributes and base64url (section 5) for JWT segments.
// Decoders are strict: they refuse rather than guess, and never throw.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::auth::sasl {

std::string encode_base64(std::string_view bytes);

// Padded standard alphabet only; nullopt for any other character, bad length or padding, or
// non-zero unused bits.
std::optional<std::string> decode_base64(std::string_view text);

// URL-safe alphabet without padding (as JWS uses it); nullopt otherwise.
std::optional<std::string> decode_base64url(std::string_view text);

}  // namespace postern::auth::sasl
