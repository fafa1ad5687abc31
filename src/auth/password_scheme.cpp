#include "auth/password_scheme.hpp"

#include <crypt.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>

#include "auth/posix_file.hpp"

namespace postern::auth {

namespace {

// SHA-crypt's cost grows with the password's length. No real password comes near this, and the
// cap stops a client from buying seconds of CPU with one long PASS line.
constexpr std::size_t max_password_bytes = 4096;

// How the secret after "{SCHEME}" is checked; Dovecot's crypt-based names all go to crypt(3).
enum class Family { plain, crypt, argon2i, argon2id };

struct StoredPassword {
  Family family;
  std::string_view secret;
};

struct SchemeName {
  std::string_view name;
  Family family;
};

constexpr std::array<SchemeName, 10> scheme_names{{
    {"PLAIN", Family::plain},
    {"CLEAR", Family::plain},
    {"CLEARTEXT", Family::plain},
    {"CRYPT", Family::crypt},
    {"SHA512-CRYPT", Family::crypt},
    {"SHA256-CRYPT", Family::crypt},
    {"BLF-CRYPT", Family::crypt},
    {"MD5-CRYPT", Family::crypt},
    {"ARGON2ID", Family::argon2id},
    {"ARGON2I", Family::argon2i},
}};

constexpr std::string_view argon2id_prefix = "$argon2id$";
constexpr std::string_view argon2i_prefix = "$argon2i$";

char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_upper(x) == ascii_upper(y);
         });
}

bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

std::optional<Family> family_by_name(std::string_view name) {
  for (const auto& entry : scheme_names) {
    if (iequals(entry.name, name)) return entry.family;
  }
  return std::nullopt;
}

// Without "{SCHEME}" the string is a crypt hash, as under Dovecot's default_pass_scheme = CRYPT;
// libxcrypt knows no Argon2, so those go to libsodium by their prefix.
StoredPassword classify_bare(std::string_view stored) {
  if (stored.starts_with(argon2id_prefix)) return {Family::argon2id, stored};
  if (stored.starts_with(argon2i_prefix)) return {Family::argon2i, stored};
  return {Family::crypt, stored};
}

std::optional<StoredPassword> parse_stored(std::string_view stored) {
  if (stored.empty()) return std::nullopt;
  if (stored.front() != '{') return classify_bare(stored);
  const auto close = stored.find('}');
  if (close == std::string_view::npos) return std::nullopt;
  const auto family = family_by_name(stored.substr(1, close - 1));
  if (!family) return std::nullopt;
  return StoredPassword{*family, stored.substr(close + 1)};
}

bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;  // C++ makes this one-time init thread-safe
  return ready;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Digests first, so neither the comparison's time nor its early exit reveals the stored length.
bool verify_plain(std::string_view secret, std::string_view password) {
  std::array<unsigned char, crypto_generichash_BYTES> want{};
  std::array<unsigned char, crypto_generichash_BYTES> got{};
  crypto_generichash(want.data(), want.size(), bytes(secret), secret.size(), nullptr, 0);
  crypto_generichash(got.data(), got.size(), bytes(password), password.size(), nullptr, 0);
  return sodium_memcmp(want.data(), got.data(), want.size()) == 0;
}

// Scrubs the copy of the password and crypt's scratch space when the check is done.
class CryptScratch {
 public:
  explicit CryptScratch(std::string_view password)
      : phrase_(password), data_(std::make_unique<crypt_data>()) {}
  CryptScratch(const CryptScratch&) = delete;
  CryptScratch& operator=(const CryptScratch&) = delete;
  ~CryptScratch() {
    sodium_memzero(phrase_.data(), phrase_.size());
    sodium_memzero(data_.get(), sizeof(crypt_data));
  }
  // nullptr when libxcrypt rejects the setting.
  const char* hash(const std::string& setting) {
    return crypt_rn(phrase_.c_str(), setting.c_str(), data_.get(),
                    static_cast<int>(sizeof(crypt_data)));
  }

 private:
  std::string phrase_;
  std::unique_ptr<crypt_data> data_;  // about 32 KiB: kept off the stack
};

// crypt(3) takes C strings: a NUL would silently cut the password short, so it never matches.
bool verify_crypt(std::string_view hash, std::string_view password) {
  if (hash.empty() || has_nul(hash) || has_nul(password)) return false;
  CryptScratch scratch(password);
  const char* computed = scratch.hash(std::string(hash));
  return computed != nullptr && std::strlen(computed) == hash.size() &&
         sodium_memcmp(computed, hash.data(), hash.size()) == 0;
}

// The scheme name and the hash's own prefix must agree; a mismatch is a mistake, not a variant.
bool verify_argon2(Family family, std::string_view hash, std::string_view password) {
  const bool id = family == Family::argon2id;
  if (has_nul(hash) || !hash.starts_with(id ? argon2id_prefix : argon2i_prefix)) return false;
  const auto check = id ? crypto_pwhash_argon2id_str_verify : crypto_pwhash_argon2i_str_verify;
  return check(std::string(hash).c_str(), password.data(), password.size()) == 0;
}

bool verify_stored(const StoredPassword& stored, std::string_view password) {
  switch (stored.family) {
    case Family::plain: return verify_plain(stored.secret, password);
    case Family::crypt: return verify_crypt(stored.secret, password);
    case Family::argon2i:
    case Family::argon2id: return verify_argon2(stored.family, stored.secret, password);
  }
  return false;
}

bool crypt_knows(std::string_view hash) {
  if (hash.empty() || has_nul(hash)) return false;
  const int verdict = crypt_checksalt(std::string(hash).c_str());
  return verdict == CRYPT_SALT_OK || verdict == CRYPT_SALT_METHOD_LEGACY;
}

std::string hash_yescrypt(std::string_view password) {
  if (has_nul(password)) throw std::runtime_error("a password for crypt(3) cannot hold a NUL byte");
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> setting{};
  if (crypt_gensalt_rn("$y$", 0, nullptr, 0, setting.data(), static_cast<int>(setting.size())) ==
      nullptr) {
    throw std::runtime_error("cannot make a yescrypt salt: " + errno_message(errno));
  }
  CryptScratch scratch(password);
  const char* computed = scratch.hash(setting.data());
  if (computed == nullptr)
    throw std::runtime_error("yescrypt hashing failed: " + errno_message(errno));
  return std::string("{CRYPT}") + computed;
}

std::string hash_argon2id(std::string_view password) {
  if (!sodium_ready()) throw std::runtime_error("libsodium failed to initialise");
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(
          out.data(), password.data(), password.size(), crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
          crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("argon2id hashing failed (out of memory?)");
  }
  return std::string("{ARGON2ID}") + out.data();
}

}  // namespace

bool verify_password(std::string_view stored, std::string_view password) {
  if (password.empty() || password.size() > max_password_bytes) return false;
  try {
    const auto parsed = parse_stored(stored);
    return parsed && sodium_ready() && verify_stored(*parsed, password);
  } catch (...) {  // only std::bad_alloc can get here; a failed check is still a "no"
    return false;
  }
}

bool is_supported_scheme(std::string_view stored) {
  try {
    const auto parsed = parse_stored(stored);
    if (!parsed) return false;
    switch (parsed->family) {
      case Family::plain: return true;
      case Family::crypt: return crypt_knows(parsed->secret);
      case Family::argon2i: return parsed->secret.starts_with(argon2i_prefix);
      case Family::argon2id: return parsed->secret.starts_with(argon2id_prefix);
    }
  } catch (...) {
  }
  return false;
}

std::string hash_password(std::string_view password, HashScheme scheme) {
  if (password.empty()) throw std::runtime_error("refusing to hash an empty password");
  if (password.size() > max_password_bytes) {
    throw std::runtime_error("password longer than " + std::to_string(max_password_bytes) +
                             " bytes");
  }
  switch (scheme) {
    case HashScheme::yescrypt: return hash_yescrypt(password);
    case HashScheme::argon2id: return hash_argon2id(password);
  }
  throw std::runtime_error("unknown hash scheme");
}

}  // namespace postern::auth
