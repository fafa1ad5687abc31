// APOP (RFC 1939 section 7): the client proves the password with MD5(banner timestamp + secret).
// Not SASL, but the same plaintext-equivalent secret problem as CRAM-MD5, so it lives here.
#pragma once

#include <optional>
#include <string_view>

namespace postern::auth::sasl {

// timestamp_banner: the "<...>" token from the greeting, angle brackets included.
// digest_hex: the client's 32 hex digits (either case). stored_secret: the passwd-file string.
// nullopt when the stored secret is not plaintext-equivalent (APOP cannot work for this user);
// otherwise whether the digest matches, compared in constant time.
std::optional<bool> verify_apop(std::string_view timestamp_banner, std::string_view digest_hex,
                                std::string_view stored_secret);

}  // namespace postern::auth::sasl
