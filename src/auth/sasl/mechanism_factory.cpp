#include <array>

#include "auth/sasl/cram_md5.hpp"
#include "auth/sasl/login.hpp"
#include "auth/sasl/mechanism.hpp"
#include "auth/sasl/oauth.hpp"
#include "auth/sasl/plain.hpp"
#include "auth/sasl/scram.hpp"

namespace postern::auth::sasl {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto upper = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; };
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

bool plaintext_allowed(const MechanismContext& context) {
  return context.tls_active || context.allow_plaintext_without_tls;
}

bool offers_plus(const MechanismContext& context) {
  return context.secret_lookup && context.tls_active && context.tls_exporter.has_value();
}

// Strongest first: CAPA lists them in this order and clients often take the first they know.
constexpr std::array<std::string_view, 7> all_names{
    "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2", "CRAM-MD5", "PLAIN", "LOGIN"};

bool available(std::string_view name, const MechanismContext& context) {
  if (name == "SCRAM-SHA-256-PLUS") return offers_plus(context);
  if (name == "SCRAM-SHA-256" || name == "CRAM-MD5")
    return static_cast<bool>(context.secret_lookup);
  if (name == "OAUTHBEARER" || name == "XOAUTH2") {
    return context.oauth.has_value() && plaintext_allowed(context);
  }
  if (name == "PLAIN" || name == "LOGIN") {
    return static_cast<bool>(context.password_check) && plaintext_allowed(context);
  }
  return false;
}

std::unique_ptr<Mechanism> construct(std::string_view name, const MechanismContext& context) {
  if (name == "PLAIN") return make_plain(context.password_check);
  if (name == "LOGIN") return make_login(context.password_check);
  if (name == "CRAM-MD5") {
    return make_cram_md5(context.secret_lookup, context.hostname, context.nonce_source);
  }
  if (name == "OAUTHBEARER") return make_oauthbearer(*context.oauth);
  if (name == "XOAUTH2") return make_xoauth2(*context.oauth);
  ScramOptions options{context.secret_lookup, std::nullopt, offers_plus(context),
                       context.nonce_source};
  if (name == "SCRAM-SHA-256-PLUS") options.plus_binding = context.tls_exporter;
  return make_scram_sha256(std::move(options));
}

}  // namespace

std::unique_ptr<Mechanism> make_mechanism(std::string_view name, const MechanismContext& context) {
  for (std::string_view known : all_names) {
    if (iequals(name, known))
      return available(known, context) ? construct(known, context) : nullptr;
  }
  return nullptr;
}

std::vector<std::string> available_mechanisms(const MechanismContext& context) {
  std::vector<std::string> names;
  for (std::string_view name : all_names) {
    if (available(name, context)) names.emplace_back(name);
  }
  return names;
}

}  // namespace postern::auth::sasl
