#include "fetch/login_choice.hpp"

#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

// Two methods of one family fail for the same reasons: trying both only costs a login failure.
int family(LoginMethod m) {
  switch (m) {
    case LoginMethod::scram_sha256_plus:
    case LoginMethod::scram_sha256: return 0;
    case LoginMethod::sasl_plain:
    case LoginMethod::user_pass: return 1;
    case LoginMethod::apop: break;
  }
  return 2;
}

}  // namespace

std::string_view login_method_name(LoginMethod method) {
  switch (method) {
    case LoginMethod::scram_sha256_plus: return "SCRAM-SHA-256-PLUS";
    case LoginMethod::scram_sha256: return "SCRAM-SHA-256";
    case LoginMethod::sasl_plain: return "PLAIN";
    case LoginMethod::user_pass: return "USER/PASS";
    case LoginMethod::apop: return "APOP";
  }
  return "?";
}

std::vector<LoginMethod> choose_login(const LoginContext& c) {
  const bool clear_ok = c.tls || c.allow_plaintext;
  std::vector<LoginMethod> ordered;
  if (c.tls && c.channel_binding && c.caps.offers_sasl("SCRAM-SHA-256-PLUS")) {
    ordered.push_back(LoginMethod::scram_sha256_plus);
  }
  if (c.caps.offers_sasl("SCRAM-SHA-256")) ordered.push_back(LoginMethod::scram_sha256);
  if (clear_ok) {
    if (c.caps.offers_sasl("PLAIN")) ordered.push_back(LoginMethod::sasl_plain);
    // RFC 1939 servers (no CAPA) all take USER/PASS.
    if (c.caps.user || !c.caps.known) ordered.push_back(LoginMethod::user_pass);
  }
  if (c.apop_timestamp) ordered.push_back(LoginMethod::apop);
  // A server that answers CAPA but does not list USER may still take it (some list only SASL).
  if (clear_ok && c.caps.known && !c.caps.user) ordered.push_back(LoginMethod::user_pass);

  if (ordered.empty()) {
    if (!clear_ok) {
      throw FetchError(ErrorKind::auth,
                       "the connection is not protected by TLS and the server offers no login "
                       "that keeps the password secret (SCRAM-SHA-256 or APOP); refusing to "
                       "send the password in clear (allow it with allow_plaintext = true)");
    }
    throw FetchError(ErrorKind::auth, "the server offers no login method postern knows");
  }
  std::vector<LoginMethod> chosen{ordered.front()};
  for (std::size_t i = 1; i < ordered.size(); ++i) {
    if (family(ordered[i]) == family(chosen.front())) continue;
    chosen.push_back(ordered[i]);
    break;
  }
  return chosen;
}

}  // namespace postern::fetch
