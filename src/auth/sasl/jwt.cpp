#include "auth/sasl/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <climits>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "auth/sasl/base64.hpp"

namespace postern::auth::sasl {
namespace {

using Json = nlohmann::json;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

JwtCheck reject(std::string reason) {
  return {false, {}, std::move(reason)};
}

Pkey read_public_key(const std::string& pem) {
  if (pem.size() > INT_MAX) return nullptr;
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  return Pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

bool is_p256(EVP_PKEY* key) {
  std::array<char, 64> group{};
  std::size_t length = 0;
  if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &length) != 1) return false;
  const std::string_view name(group.data(), length);
  return name == "prime256v1" || name == "P-256";
}

// JWS carries ES256 signatures as R || S, 32 bytes each; OpenSSL verifies DER.
std::optional<std::string> es256_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) return std::nullopt;
  return der;
}

bool verify_signature(EVP_PKEY* key, std::string_view signed_part, std::string_view signature) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(
             ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
             reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
}

// Checks the header's algorithm against the key's type, then the signature itself.
std::optional<std::string> check_signature(const Json& header, const OAuthConfig& config,
                                           std::string_view signed_part,
                                           std::string_view signature) {
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return "JWT header without alg";
  if (header.contains("crit")) return "JWT header with unsupported crit";
  const Pkey key = read_public_key(config.public_key_pem);
  if (!key) return "OAuth public key cannot be read";
  const auto& name = alg->get_ref<const std::string&>();
  if (name == "RS256") {
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key.get()) < 2048) {
      return "JWT alg RS256 but the configured key is not RSA >= 2048 bits";
    }
    if (!verify_signature(key.get(), signed_part, signature)) return "JWT signature invalid";
    return std::nullopt;
  }
  if (name == "ES256") {
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC || !is_p256(key.get())) {
      return "JWT alg ES256 but the configured key is not EC P-256";
    }
    const auto der = es256_to_der(signature);
    if (!der || !verify_signature(key.get(), signed_part, *der)) return "JWT signature invalid";
    return std::nullopt;
  }
  return "JWT alg not RS256 or ES256";
}

std::optional<double> numeric_claim(const Json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end() || !it->is_number()) return std::nullopt;
  const double value = it->get<double>();
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

bool audience_matches(const Json& aud, const std::string& audience) {
  if (aud.is_string()) return aud.get_ref<const std::string&>() == audience;
  if (!aud.is_array()) return false;
  for (const auto& entry : aud) {
    if (entry.is_string() && entry.get_ref<const std::string&>() == audience) return true;
  }
  return false;
}

JwtCheck check_claims(const Json& claims, const OAuthConfig& config,
                      std::chrono::system_clock::time_point now) {
  const double seconds = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  const double leeway = static_cast<double>(jwt_clock_leeway.count());
  const auto exp = numeric_claim(claims, "exp");
  if (!exp) return reject("JWT without numeric exp");
  if (seconds > *exp + leeway) return reject("JWT expired");
  if (claims.contains("nbf")) {
    const auto nbf = numeric_claim(claims, "nbf");
    if (!nbf) return reject("JWT nbf not numeric");
    if (seconds + leeway < *nbf) return reject("JWT not yet valid");
  }
  const auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() ||
      iss->get_ref<const std::string&>() != config.issuer) {
    return reject("JWT issuer mismatch");
  }
  const auto aud = claims.find("aud");
  if (aud == claims.end() || !audience_matches(*aud, config.audience)) {
    return reject("JWT audience mismatch");
  }
  const auto user = claims.find(config.user_claim);
  if (user == claims.end() || !user->is_string() || user->get_ref<const std::string&>().empty()) {
    return reject("JWT without string claim " + config.user_claim);
  }
  return {true, user->get<std::string>(), {}};
}

Json parse_object(std::string_view text) {
  Json value = Json::parse(text.begin(), text.end(), nullptr, false);
  return value.is_object() ? value : Json();
}

}  // namespace

JwtCheck check_jwt(std::string_view token, const OAuthConfig& config,
                   std::chrono::system_clock::time_point now) {
  if (token.size() > max_jwt_bytes) return reject("JWT too long");
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return reject("JWT is not three dot-separated segments");
  }
  const auto header_text = decode_base64url(token.substr(0, dot1));
  const auto payload_text = decode_base64url(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto signature = decode_base64url(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) return reject("JWT segment not base64url");

  try {
    const Json header = parse_object(*header_text);
    if (!header.is_object()) return reject("JWT header is not a JSON object");
    if (auto error = check_signature(header, config, token.substr(0, dot2), *signature)) {
      return reject(std::move(*error));
    }
    // The payload is parsed only once the signature shows it came from the issuer.
    const Json claims = parse_object(*payload_text);
    if (!claims.is_object()) return reject("JWT payload is not a JSON object");
    return check_claims(claims, config, now);
  } catch (const std::exception& e) {
    return reject(std::string("JWT rejected: ") + e.what());
  }
}

}  // namespace postern::auth::sasl
