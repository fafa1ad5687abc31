// SASL mechanisms for POP3 AUTH (RFC 5034), server side and sans-I/O: raw bytes in, raw bytes out.
// The POP3 session base64-codes the exchange, looks up nothing itself, and drives one Mechanism.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::auth::sasl {

enum class StepStatus { challenge, success, failure };

struct Step {
  StepStatus status = StepStatus::failure;
  std::string data;    // the challenge, or the final server data on success (may be empty)
  std::string reason;  // on failure, for the log only, never for the client
};

class Mechanism {
 public:
  virtual ~Mechanism() = default;
  virtual std::string_view name() const = 0;
  // The first call gets the initial response (nullopt when the client sent none), later calls
  // the client's responses. After success or failure every further call fails.
  // May block: mechanisms call the context's SecretLookup / PasswordCheck, and SCRAM hashes.
  virtual Step step(std::optional<std::string_view> client_data) = 0;
  // The identity that logged in, valid after success (the authorization identity, which these
  // mechanisms only accept when empty or equal to the authentication identity).
  virtual const std::string& user() const = 0;
};

// A user's stored password string ("{SCHEME}secret" as in the passwd-file), nullopt if unknown.
using SecretLookup = std::function<std::optional<std::string>(std::string_view user)>;
// Checks a plaintext password (the Passdb::verify path, which hashes: may block).
using PasswordCheck = std::function<bool(std::string_view user, std::string_view password)>;

// How OAUTHBEARER and XOAUTH2 check a bearer token: a JWT signed with RS256 or ES256.
struct OAuthConfig {
  std::string public_key_pem;        // "-----BEGIN PUBLIC KEY-----": RSA (>= 2048 bits) or EC P-256
  std::string issuer;                // must equal the token's "iss"
  std::string audience;              // must be, or be among, the token's "aud"
  std::string user_claim = "email";  // the claim that names the mailbox user
  // Empty means the system clock; tests set a fixed time.
  std::function<std::chrono::system_clock::time_point()> clock;
};

struct MechanismContext {
  SecretLookup secret_lookup;    // empty: CRAM-MD5 and SCRAM are unavailable
  PasswordCheck password_check;  // empty: PLAIN and LOGIN are unavailable
  std::string hostname;          // in the CRAM-MD5 challenge
  bool tls_active = false;
  // PLAIN, LOGIN, OAUTHBEARER and XOAUTH2 send reusable secrets in clear: offered only under
  // TLS unless this is set (Dovecot's disable_plaintext_auth = no).
  bool allow_plaintext_without_tls = false;
  // The RFC 9266 tls-exporter value (32 bytes) of this connection; enables SCRAM-SHA-256-PLUS.
  std::optional<std::string> tls_exporter;
  std::optional<OAuthConfig> oauth;  // unset: OAUTHBEARER and XOAUTH2 are unavailable
  // The random part of SCRAM's server nonce and of the CRAM-MD5 challenge; empty means random.
  // Must return printable ASCII without ',' (tests fix it to reproduce RFC examples).
  std::function<std::string()> nonce_source;
};

// nullptr for a mechanism name this build does not know or this context cannot offer.
// Names are case-insensitive, as SASL mechanism names are.
std::unique_ptr<Mechanism> make_mechanism(std::string_view name, const MechanismContext& context);

// The names CAPA's SASL line lists, in order of preference (strongest first).
std::vector<std::string> available_mechanisms(const MechanismContext& context);

}  // namespace postern::auth::sasl
