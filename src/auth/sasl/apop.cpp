#include "auth/sasl/apop.hpp"

#include <string>

#include "auth/sasl/digest.hpp"
#include "auth/sasl/stored_secret.hpp"

namespace postern::auth::sasl {

std::optional<bool> verify_apop(std::string_view timestamp_banner, std::string_view digest_hex,
                                std::string_view stored_secret) {
  const auto secret = plaintext_secret(stored_secret);
  if (!secret) return std::nullopt;
  const auto digest = from_hex(digest_hex);
  if (!digest || digest->size() != 16) return false;
  std::string input(timestamp_banner);
  input += *secret;
  return equal_constant_time(md5(input), *digest);
}

}  // namespace postern::auth::sasl
