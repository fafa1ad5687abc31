// Password schemes: checks a password against a stored "{SCHEME}secret" or bare crypt hash, and
// makes new hashes for the user tools. Dovecot's scheme names, so existing passwd-files carry over.
#pragma once

#include <string>
#include <string_view>

namespace postern::auth {

// stored: "{SCHEME}secret" (Dovecot style) or a bare crypt hash ("$6$...", "$y$...", "$2b$...",
// "$argon2id$..."). Scheme names are case-insensitive. Unknown schemes, malformed hashes, empty
// passwords and passwords that crypt(3) cannot take (embedded NUL) all give false; never throws.
bool verify_password(std::string_view stored, std::string_view password);

// True when the stored string names a scheme this build understands, and for crypt hashes when
// libxcrypt accepts the hash's method. Lets check-config warn before a login fails.
bool is_supported_scheme(std::string_view stored);

enum class HashScheme { yescrypt, argon2id };

// A fresh hash with a random salt, in passwd-file form: "{CRYPT}$y$..." or
// "{ARGON2ID}$argon2id$...". Throws std::runtime_error on failure, or for a password
// verify_password would refuse.
std::string hash_password(std::string_view password, HashScheme scheme);

}  // namespace postern::auth
