// Which way to log in, decided from what the server offers and how the connection is protected.
// The rule: the strongest mechanism first (SCRAM-SHA-256-PLUS, SCRAM-SHA-256, then SASL PLAIN or
// USER/PASS, then APOP), and never a reusable password in clear on an unprotected connection
// unless the account allows it (tls = "none" with allow_plaintext, or --no-tls).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetch/capabilities.hpp"

namespace postern::fetch {

enum class LoginMethod {
  scram_sha256_plus,  // RFC 9266 tls-exporter channel binding: TLS 1.3 only
  scram_sha256,       // proves the password without sending it
  sasl_plain,         // AUTH PLAIN: the password itself
  user_pass,          // USER/PASS: the password itself
  apop,               // MD5(timestamp + password): not sent, but weak against offline guessing
};

std::string_view login_method_name(LoginMethod method);

struct LoginContext {
  Capabilities caps;
  bool tls = false;              // TLS is up (implicit or after STLS)
  bool channel_binding = false;  // the TLS session can give a tls-exporter value (TLS 1.3)
  bool allow_plaintext = false;  // a password may cross an unprotected connection
  std::optional<std::string> apop_timestamp;  // from the greeting
};

// The methods to try, best first (at most two: the second only when it is a different family,
// e.g. PLAIN after a SCRAM failure, which helps with servers that offer SCRAM to users whose
// stored secret cannot do it). Throws FetchError (auth) when no safe method is offered, with a
// message that says what is missing and which setting would allow more.
std::vector<LoginMethod> choose_login(const LoginContext& context);

}  // namespace postern::fetch
