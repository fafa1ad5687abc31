// Fuzzes the SASL decoders (src/auth/sasl) below the POP3 session: each mechanism is stepped with
// client messages from the input, over a lookup holding alice ({PLAIN}tanstaaf) and RFC 7677's
// "user" ({SCRAM-SHA-256} keys for "pencil"), with RFC 7677's server nonce, so the RFC exchange
// in the corpus succeeds. Also the base64 codecs, the stored-secret readers and APOP, and the JWT
// check behind OAUTHBEARER/XOAUTH2 with tokens the target signs itself (a fuzzer cannot forge a
// signature, so without this it would never get past it to the claims).
//
// Input: byte 0 picks what runs, the rest is split at '\n' into the client's messages.
//   P PLAIN, L LOGIN, S SCRAM-SHA-256, + SCRAM-SHA-256-PLUS, C CRAM-MD5, O OAUTHBEARER,
//   X XOAUTH2 (lower case: the exchange starts without an initial response);
//   J / R: header and claims JSON, signed ES256 / RS256 here, checked and used with OAUTHBEARER;
//   B base64 and base64url; K stored secret, password and APOP digest. Other bytes: b % 11.
// Checked: nothing logs in without the right secret or signature, a finished exchange stays
// finished, decoders accept only the one canonical encoding.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/password_scheme.hpp"
#include "auth/sasl/apop.hpp"
#include "auth/sasl/base64.hpp"
#include "auth/sasl/digest.hpp"
#include "auth/sasl/jwt.hpp"
#include "auth/sasl/mechanism.hpp"
#include "auth/sasl/stored_secret.hpp"
#include "auth/username.hpp"
#include "fuzz_support.hpp"

namespace postern::fuzz {
namespace {

using auth::sasl::StepStatus;

constexpr std::string_view alice_secret = "{PLAIN}tanstaaf";
// RFC 7677 section 3, in Dovecot's stored form.
constexpr std::string_view rfc7677_secret =
    "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
constexpr std::string_view rfc7677_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::int64_t now_seconds = 1'800'000'000;

std::optional<std::string> lookup(std::string_view user) {
  if (user == "alice") return std::string(alice_secret);
  if (user == "user") return std::string(rfc7677_secret);
  return std::nullopt;
}

// ---- keys and tokens for the JWT modes ----

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string public_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(size)};
}

std::string base64url(std::string_view bytes) {
  std::string text = auth::sasl::encode_base64(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

// A JWS signature: RSA as it comes, ECDSA turned from DER into R || S.
std::string sign(EVP_PKEY* key, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key);
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t length = 0;
  EVP_DigestSign(ctx.get(), nullptr, &length, in, data.size());
  std::string signature(length, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, in,
                 data.size());
  signature.resize(length);
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return signature;
  const auto* der = reinterpret_cast<const unsigned char*>(signature.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ecdsa(
      d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size())), &ECDSA_SIG_free);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), out, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), out + 32, 32);
  return raw;
}

struct Signer {
  Pkey key;
  auth::sasl::OAuthConfig config;
};

Signer make_signer(bool rsa) {
  Signer signer;
  signer.key.reset(rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                       : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  signer.config.public_key_pem = public_pem(signer.key.get());
  signer.config.issuer = "https://id.example.org";
  signer.config.audience = "pop3";
  signer.config.clock = [] {
    return std::chrono::system_clock::time_point(std::chrono::seconds(now_seconds));
  };
  return signer;
}

const Signer& signer(bool rsa) {
  static const Signer ec = make_signer(false);
  static const Signer rs = make_signer(true);
  return rsa ? rs : ec;
}

// ---- mechanisms ----

auth::sasl::MechanismContext context(bool rsa_oauth) {
  auth::sasl::MechanismContext c;
  c.secret_lookup = lookup;
  c.password_check = [](std::string_view user, std::string_view password) {
    const auto stored = lookup(user);
    return stored && auth::verify_password(*stored, password);
  };
  c.hostname = "fuzz.example.org";
  c.tls_active = true;
  c.tls_exporter = std::string(32, '\x5a');
  c.oauth = signer(rsa_oauth).config;
  c.nonce_source = [] { return std::string(rfc7677_server_nonce); };
  return c;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Steps the mechanism through the messages (after an absent initial response unless
// initial_response), then once more without data; returns the user on success.
std::optional<std::string> run_mechanism(std::string_view name, bool initial_response,
                                         const std::vector<std::string_view>& messages,
                                         bool rsa_oauth = false) {
  const auto mechanism = auth::sasl::make_mechanism(name, context(rsa_oauth));
  FUZZ_CHECK(mechanism != nullptr, std::string(name));
  FUZZ_CHECK(mechanism->name() == name, std::string(mechanism->name()));
  std::vector<std::optional<std::string_view>> turns;
  if (!initial_response) turns.emplace_back(std::nullopt);
  turns.insert(turns.end(), messages.begin(), messages.end());
  turns.emplace_back(std::nullopt);  // a client that stops answering ends the exchange
  std::optional<std::string> logged_in;
  bool finished = false;
  for (const auto& data : turns) {
    const auto step = mechanism->step(data);
    if (finished) {
      FUZZ_CHECK(step.status == StepStatus::failure, "a step after the end did not fail");
      continue;
    }
    if (step.status == StepStatus::challenge) continue;
    finished = true;
    if (step.status == StepStatus::success) {
      logged_in = mechanism->user();
      FUZZ_CHECK(auth::is_valid_username(*logged_in), escaped(*logged_in));
    }
  }
  FUZZ_CHECK(finished, "the exchange is still open after an absent response");
  show(name, logged_in ? "logged in as " + *logged_in : std::string("no login"));
  return logged_in;
}

void check_password_mechanism(std::string_view name, bool initial,
                              const std::vector<std::string_view>& messages, std::string_view all) {
  const auto user = run_mechanism(name, initial, messages);
  if (!user) return;
  // Only alice has a secret PLAIN and LOGIN can check, and only her password opens it.
  FUZZ_CHECK(*user == "alice", escaped(*user));
  FUZZ_CHECK(contains(all, "tanstaaf"), escaped(all));
}

// The challenge holds the time: no input can carry the HMAC of a challenge it cannot know.
void check_challenge_response(bool initial, const std::vector<std::string_view>& messages) {
  const auto user = run_mechanism("CRAM-MD5", initial, messages);
  FUZZ_CHECK(!user, "CRAM-MD5 login without the challenge's HMAC: " + escaped(*user));
}

void check_scram(bool plus, bool initial, const std::vector<std::string_view>& messages) {
  const auto user = run_mechanism(plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256", initial, messages);
  if (!user) return;
  // alice's keys are derived with a fresh random salt: only "user" can be proven from a replay.
  FUZZ_CHECK(*user == "user", escaped(*user));
}

void check_bearer(std::string_view name, bool initial,
                  const std::vector<std::string_view>& messages) {
  const auto user = run_mechanism(name, initial, messages);
  FUZZ_CHECK(!user, "bearer login without a signed token: " + escaped(*user));
}

// Header and claims from the input, signed here: the parts after the signature check run.
void check_signed_token(bool rsa, const std::vector<std::string_view>& messages) {
  const auto header = messages.size() > 0 ? messages[0] : std::string_view{};
  const auto claims = messages.size() > 1 ? messages[1] : std::string_view{};
  const auto& s = signer(rsa);
  const std::string signed_part = base64url(header) + "." + base64url(claims);
  const std::string token = signed_part + "." + base64url(sign(s.key.get(), signed_part));
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(now_seconds));
  const auto check = auth::sasl::check_jwt(token, s.config, now);
  if (check.valid) FUZZ_CHECK(!check.user.empty(), "valid token without a user");
  const std::string message =
      "n,,\x01"
      "auth=Bearer " +
      token + "\x01\x01";
  const auto user = run_mechanism("OAUTHBEARER", true, {message}, rsa);
  if (user) {
    FUZZ_CHECK(check.valid && *user == check.user, escaped(*user));
  } else {
    FUZZ_CHECK(!check.valid || !auth::is_valid_username(check.user), escaped(check.user));
  }
}

// ---- codecs and stored secrets ----

void check_base64(std::string_view text) {
  using namespace auth::sasl;
  if (const auto bytes = decode_base64(text)) {
    FUZZ_CHECK(encode_base64(*bytes) == text, "non-canonical base64 accepted: " + escaped(text));
  }
  FUZZ_CHECK(decode_base64(encode_base64(text)) == std::string(text), escaped(text));
  if (const auto bytes = decode_base64url(text)) {
    FUZZ_CHECK(base64url(*bytes) == text, "non-canonical base64url accepted: " + escaped(text));
  }
  FUZZ_CHECK(decode_base64url(base64url(text)) == std::string(text), escaped(text));
  if (const auto bytes = from_hex(text))
    FUZZ_CHECK(bytes->size() * 2 == text.size(), escaped(text));
}

void check_stored_secret(const std::vector<std::string_view>& messages) {
  using namespace auth::sasl;
  const auto stored = messages.size() > 0 ? messages[0] : std::string_view{};
  const auto password = messages.size() > 1 ? messages[1] : std::string_view{};
  const auto timestamp = messages.size() > 2 ? messages[2] : std::string_view{"<1.2@host>"};
  static_cast<void>(auth::is_supported_scheme(stored));
  if (const auto scram = scram_sha256_secret(stored)) {
    FUZZ_CHECK(scram->iterations >= 1 && scram->iterations <= 10'000'000 && !scram->salt.empty() &&
                   scram->stored_key.size() == 32 && scram->server_key.size() == 32,
               escaped(stored));
  }
  const auto secret = plaintext_secret(stored);
  const auto apop =
      verify_apop(timestamp, to_hex(md5(std::string(timestamp) + std::string(password))), stored);
  FUZZ_CHECK(apop.has_value() == secret.has_value(), escaped(stored));
  if (!secret) return;  // crypt and Argon2 costs come from the stored string: not for a fuzzer
  FUZZ_CHECK(!secret->empty(), escaped(stored));
  // The two readers of "{SCHEME}secret" (login and challenge-response) must agree.
  const bool should_match = password == *secret && password.size() <= 4096;
  FUZZ_CHECK(auth::verify_password(stored, password) == should_match,
             escaped(stored) + " / " + escaped(password));
  FUZZ_CHECK(*apop == (password == *secret), escaped(stored) + " / " + escaped(password));
}

}  // namespace
}  // namespace postern::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  postern::fuzz::silence_logging();
  static_cast<void>(postern::fuzz::signer(false));
  static_cast<void>(postern::fuzz::signer(true));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::fuzz;
  if (size == 0) return 0;
  constexpr std::string_view modes = "PLS+COXJRBK";
  char mode = static_cast<char>(data[0]);
  bool initial = true;
  if (mode >= 'a' && mode <= 'z') {
    mode = static_cast<char>(mode - 'a' + 'A');
    initial = false;
  }
  if (modes.find(mode) == std::string_view::npos) mode = modes[data[0] % modes.size()];
  const auto rest = as_text(data + 1, size - 1);
  const auto messages = split(rest, '\n');
  switch (mode) {
    case 'P': check_password_mechanism("PLAIN", initial, messages, rest); break;
    case 'L': check_password_mechanism("LOGIN", initial, messages, rest); break;
    case 'S': check_scram(false, initial, messages); break;
    case '+': check_scram(true, initial, messages); break;
    case 'C': check_challenge_response(initial, messages); break;
    case 'O': check_bearer("OAUTHBEARER", initial, messages); break;
    case 'X': check_bearer("XOAUTH2", initial, messages); break;
    case 'J': check_signed_token(false, messages); break;
    case 'R': check_signed_token(true, messages); break;
    case 'B': check_base64(rest); break;
    case 'K': check_stored_secret(messages); break;
  }
  return 0;
}
