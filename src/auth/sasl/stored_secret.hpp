// Reads the parts of a stored "{SCHEME}secret" that challenge-response mechanisms can use:
// a plaintext-equivalent secret, or Dovecot's precomputed SCRAM-SHA-256 keys.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::auth::sasl {

// The password itself for "{PLAIN}", "{CLEAR}" and "{CLEARTEXT}" (scheme case-insensitive),
// nullopt for every other scheme, bare crypt hashes and empty passwords.
std::optional<std::string> plaintext_secret(std::string_view stored);

struct ScramSecret {
  unsigned iterations = 0;
  std::string salt;        // raw bytes
  std::string stored_key;  // H(ClientKey), 32 bytes
  std::string server_key;  // 32 bytes
};

// Dovecot's "{SCRAM-SHA-256}<iterations>,<base64 salt>,<base64 StoredKey>,<base64 ServerKey>";
// nullopt for any other scheme or a malformed value (iterations outside 1..10000000, empty salt,
// keys not 32 bytes).
std::optional<ScramSecret> scram_sha256_secret(std::string_view stored);

}  // namespace postern::auth::sasl
