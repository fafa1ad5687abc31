// OAUTHBEARER, XOAUTH2 and the JWT check, with keys and tokens made at test time by OpenSSL.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "auth/sasl/base64.hpp"
#include "auth/sasl/jwt.hpp"
#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {
namespace {

using namespace std::literals;
using Json = nlohmann::json;

struct KeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

const Key& rsa_key() {
  static const Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
  return key;
}
const Key& rsa_key_1024() {
  static const Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024}));
  return key;
}
const Key& ec_key() {
  static const Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  return key;
}
const Key& other_ec_key() {
  static const Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  return key;
}
const Key& p384_key() {
  static const Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  return key;
}

std::string public_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(size)};
}

std::string b64url(std::string_view bytes) {
  std::string s = encode_base64(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (auto& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

std::string sign(EVP_PKEY* key, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key);
  std::size_t length = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  EVP_DigestSign(ctx.get(), nullptr, &length, in, data.size());
  std::string sig(length, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &length, in, data.size());
  sig.resize(length);
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return sig;
  // DER to JWS's R || S.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> ecdsa(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())), &ECDSA_SIG_free);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), out, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), out + 32, 32);
  return raw;
}

constexpr std::int64_t now_seconds = 1'800'000'000;

Json good_claims() {
  return {{"iss", "https://id.example.org"}, {"aud", "pop3"},
          {"exp", now_seconds + 600},        {"iat", now_seconds - 10},
          {"email", "alice@example.org"},    {"sub", "12345"}};
}

std::string make_token(EVP_PKEY* key, const std::string& alg, const Json& claims) {
  const Json header = {{"alg", alg}, {"typ", "JWT"}};
  const auto signed_part = b64url(header.dump()) + "." + b64url(claims.dump());
  return signed_part + "." + b64url(sign(key, signed_part));
}

OAuthConfig config_for(EVP_PKEY* key) {
  OAuthConfig config;
  config.public_key_pem = public_pem(key);
  config.issuer = "https://id.example.org";
  config.audience = "pop3";
  config.clock = [] {
    return std::chrono::system_clock::time_point(std::chrono::seconds(now_seconds));
  };
  return config;
}

JwtCheck check(const std::string& token, const OAuthConfig& config) {
  return check_jwt(token, config, config.clock());
}

TEST(SaslJwt, AcceptsRs256AndEs256) {
  auto rs = check(make_token(rsa_key().get(), "RS256", good_claims()), config_for(rsa_key().get()));
  EXPECT_TRUE(rs.valid) << rs.reason;
  EXPECT_EQ(rs.user, "alice@example.org");
  auto es = check(make_token(ec_key().get(), "ES256", good_claims()), config_for(ec_key().get()));
  EXPECT_TRUE(es.valid) << es.reason;
}

TEST(SaslJwt, UserClaimIsConfigurable) {
  auto config = config_for(ec_key().get());
  config.user_claim = "sub";
  EXPECT_EQ(check(make_token(ec_key().get(), "ES256", good_claims()), config).user, "12345");
}

TEST(SaslJwt, AudienceMayBeAnArray) {
  auto claims = good_claims();
  claims["aud"] = {"other", "pop3"};
  EXPECT_TRUE(check(make_token(ec_key().get(), "ES256", claims), config_for(ec_key().get())).valid);
  claims["aud"] = {"other", 7};
  EXPECT_FALSE(
      check(make_token(ec_key().get(), "ES256", claims), config_for(ec_key().get())).valid);
}

TEST(SaslJwt, ClaimChecks) {
  struct Case {
    const char* what;
    std::function<void(Json&)> change;
    bool valid;
  };
  const Case cases[] = {
      {"expired beyond leeway", [](Json& c) { c["exp"] = now_seconds - 61; }, false},
      {"expired within leeway", [](Json& c) { c["exp"] = now_seconds - 59; }, true},
      {"fractional exp", [](Json& c) { c["exp"] = static_cast<double>(now_seconds) + 0.5; }, true},
      {"no exp", [](Json& c) { c.erase("exp"); }, false},
      {"string exp", [](Json& c) { c["exp"] = std::to_string(now_seconds + 600); }, false},
      {"nbf in future", [](Json& c) { c["nbf"] = now_seconds + 120; }, false},
      {"nbf within leeway", [](Json& c) { c["nbf"] = now_seconds + 30; }, true},
      {"nbf past", [](Json& c) { c["nbf"] = now_seconds - 30; }, true},
      {"nbf not a number", [](Json& c) { c["nbf"] = "soon"; }, false},
      {"wrong issuer", [](Json& c) { c["iss"] = "https://evil.example"; }, false},
      {"no issuer", [](Json& c) { c.erase("iss"); }, false},
      {"wrong audience", [](Json& c) { c["aud"] = "imap"; }, false},
      {"no audience", [](Json& c) { c.erase("aud"); }, false},
      {"no email", [](Json& c) { c.erase("email"); }, false},
      {"email not string", [](Json& c) { c["email"] = 5; }, false},
      {"empty email", [](Json& c) { c["email"] = ""; }, false},
  };
  const auto config = config_for(ec_key().get());
  for (const auto& c : cases) {
    auto claims = good_claims();
    c.change(claims);
    const auto result = check(make_token(ec_key().get(), "ES256", claims), config);
    EXPECT_EQ(result.valid, c.valid) << c.what << ": " << result.reason;
  }
}

std::string with_header(const Json& header, const std::string& token) {
  const auto dot = token.find('.');
  return b64url(header.dump()) + token.substr(dot);
}

TEST(SaslJwt, RejectsWrongAlgorithmsAndKeys) {
  const auto ec_config = config_for(ec_key().get());
  const auto rsa_config = config_for(rsa_key().get());
  const auto es = make_token(ec_key().get(), "ES256", good_claims());
  const auto rs = make_token(rsa_key().get(), "RS256", good_claims());
  EXPECT_FALSE(check(es, rsa_config).valid);
  EXPECT_FALSE(check(rs, ec_config).valid);
  EXPECT_FALSE(check(make_token(other_ec_key().get(), "ES256", good_claims()), ec_config).valid);
  EXPECT_FALSE(check(make_token(rsa_key_1024().get(), "RS256", good_claims()),
                     config_for(rsa_key_1024().get()))
                   .valid);
  EXPECT_FALSE(
      check(make_token(p384_key().get(), "ES256", good_claims()), config_for(p384_key().get()))
          .valid);
  // alg "none" with an empty signature, HS256 keyed with the public key, algorithm confusion.
  const auto payload = b64url(good_claims().dump());
  EXPECT_FALSE(check(b64url(R"({"alg":"none"})") + "." + payload + ".", ec_config).valid);
  EXPECT_FALSE(check(with_header({{"alg", "HS256"}}, es), ec_config).valid);
  EXPECT_FALSE(check(with_header({{"alg", "RS256"}}, es), ec_config).valid);
  EXPECT_FALSE(check(with_header({{"alg", "ES256"}, {"crit", {"exp"}}}, es), ec_config).valid);
  EXPECT_FALSE(check(with_header({{"typ", "JWT"}}, es), ec_config).valid);
  // Re-signing nothing: a valid header with another token's signature.
  auto claims = good_claims();
  claims["email"] = "mallory@example.org";
  const auto forged =
      es.substr(0, es.find('.')) + "." + b64url(claims.dump()) + es.substr(es.rfind('.'));
  EXPECT_FALSE(check(forged, ec_config).valid);
}

TEST(SaslJwt, BadKeyConfigFailsCleanly) {
  auto config = config_for(ec_key().get());
  config.public_key_pem = "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n";
  EXPECT_FALSE(check(make_token(ec_key().get(), "ES256", good_claims()), config).valid);
  config.public_key_pem.clear();
  EXPECT_FALSE(check(make_token(ec_key().get(), "ES256", good_claims()), config).valid);
}

TEST(SaslJwt, SurvivesMalformedTokens) {
  const auto config = config_for(ec_key().get());
  const auto good = make_token(ec_key().get(), "ES256", good_claims());
  const auto header = good.substr(0, good.find('.'));
  const auto sig = good.substr(good.rfind('.'));
  const std::string bad[] = {
      "",
      ".",
      "..",
      "...",
      "a.b",
      "a.b.c.d",
      good + ".",
      good + "=",
      "=" + good,
      header + ".." + sig,
      b64url("[1,2]") + "." + b64url("{}") + sig,
      b64url("{\"alg\":") + "." + b64url("{}") + sig,
      b64url(std::string(10000, '[')) + ".e30" + sig,
      b64url("{\"alg\":\"ES256\"}") + "." + b64url("null") + sig,
      b64url("{\"alg\":\"ES256\"}") + "." + b64url(std::string("{\"a\":\"\0\"}", 9)) + sig,
      header + "." + b64url("{}") + "." + b64url(std::string(63, 'x')),
      header + "." + b64url("{}") + "." + b64url(std::string(64, '\xff')),
      header + "." + b64url("{}") + "." + b64url(std::string(64, '\0')),
      header + "." + b64url("{}") + ".!!!",
      std::string(20000, 'a'),
      "a\0b.c.d"s,
  };
  for (const auto& token : bad) EXPECT_FALSE(check(token, config).valid) << token.substr(0, 80);
}

MechanismContext oauth_context() {
  MechanismContext context;
  context.tls_active = true;
  context.oauth = config_for(ec_key().get());
  return context;
}

std::string bearer_message(const std::string& gs2, const std::string& token) {
  return gs2 + "\x01host=pop.example.org\x01port=995\x01" + "auth=Bearer " + token + "\x01\x01";
}

TEST(SaslOAuthBearer, AcceptsAValidToken) {
  const auto token = make_token(ec_key().get(), "ES256", good_claims());
  for (const std::string gs2 : {"n,,", "n,a=alice@example.org,", "y,,"}) {
    auto m = make_mechanism("OAUTHBEARER", oauth_context());
    const auto step = m->step(bearer_message(gs2, token));
    EXPECT_EQ(step.status, StepStatus::success) << gs2 << step.reason;
    EXPECT_EQ(m->user(), "alice@example.org");
  }
}

TEST(SaslOAuthBearer, NoInitialResponseGetsAnEmptyChallenge) {
  auto m = make_mechanism("OAUTHBEARER", oauth_context());
  const auto first = m->step(std::nullopt);
  EXPECT_EQ(first.status, StepStatus::challenge);
  EXPECT_EQ(first.data, "");
  EXPECT_EQ(
      m->step(bearer_message("n,,", make_token(ec_key().get(), "ES256", good_claims()))).status,
      StepStatus::success);
}

TEST(SaslOAuthBearer, BadTokenGetsErrorChallengeThenFailure) {
  auto claims = good_claims();
  claims["exp"] = now_seconds - 3600;
  auto m = make_mechanism("OAUTHBEARER", oauth_context());
  const auto first = m->step(bearer_message("n,,", make_token(ec_key().get(), "ES256", claims)));
  ASSERT_EQ(first.status, StepStatus::challenge);
  EXPECT_EQ(Json::parse(first.data)["status"], "invalid_token");
  const auto second = m->step("\x01"sv);
  EXPECT_EQ(second.status, StepStatus::failure);
  EXPECT_EQ(second.reason, "JWT expired");
  EXPECT_EQ(m->user(), "");
}

TEST(SaslOAuthBearer, UserMismatchIsATokenError) {
  auto m = make_mechanism("OAUTHBEARER", oauth_context());
  const auto first = m->step(
      bearer_message("n,a=bob@example.org,", make_token(ec_key().get(), "ES256", good_claims())));
  EXPECT_EQ(first.status, StepStatus::challenge);
  EXPECT_EQ(m->step("\x01"sv).status, StepStatus::failure);
}

TEST(SaslOAuthBearer, MalformedMessagesFail) {
  const auto token = make_token(ec_key().get(), "ES256", good_claims());
  const std::string bad[] = {
      "",
      "n,,",
      "n,,\x01\x01",
      "p=tls-exporter,,\x01"
      "auth=Bearer " +
          token + "\x01\x01",
      "x,,\x01"
      "auth=Bearer " +
          token + "\x01\x01",
      "n,b=x,\x01"
      "auth=Bearer " +
          token + "\x01\x01",
      "n,a=al=ice,\x01"
      "auth=Bearer " +
          token + "\x01\x01",
      "n,,auth=Bearer " + token + "\x01\x01",
      "n,,\x01"
      "auth=Bearer " +
          token + "\x01",
      "n,,\x01"
      "auth=Bearer " +
          token,
      "n,,\x01"
      "auth=Basic " +
          token + "\x01\x01",
      "n,,\x01"
      "auth=Bearer \x01\x01",
      "n,,\x01"
      "auth=" +
          token + "\x01\x01",
      "n,,\x01"
      "auth=Bearer " +
          token +
          "\x01"
          "auth=Bearer " +
          token + "\x01\x01",
      "n,,\x01"
      "au th=Bearer " +
          token + "\x01\x01",
      "n,,\x01"
      "=Bearer " +
          token + "\x01\x01",
      "n,,\x01"
      "auth=Bearer " +
          token + "\x7f\x01\x01",
      "n,,\x01"
      "auth=Bearer " +
          token + "\x01\x01\x01",
      "n,,\x01"
      "auth=Bearer " +
          token + "\0\x01\x01"s,
      "n,,\x01"
      "auth=Bearer " +
          std::string(70000, 'a') + "\x01\x01",
  };
  for (const auto& message : bad) {
    auto m = make_mechanism("OAUTHBEARER", oauth_context());
    const auto step = m->step(message);
    EXPECT_EQ(step.status, StepStatus::failure) << message.substr(0, 60);
    EXPECT_EQ(m->step("\x01"sv).status, StepStatus::failure);
  }
}

TEST(SaslOAuthBearer, GarbageTokensGetTheErrorChallenge) {
  for (const auto& token : {"x"s, "a.b.c"s, "...."s, std::string(5000, '.')}) {
    auto m = make_mechanism("OAUTHBEARER", oauth_context());
    EXPECT_EQ(m->step(bearer_message("n,,", token)).status, StepStatus::challenge);
    EXPECT_EQ(m->step("\x01"sv).status, StepStatus::failure);
  }
}

std::string xoauth2_message(const std::string& user, const std::string& token) {
  return "user=" + user + "\x01" + "auth=Bearer " + token + "\x01\x01";
}

TEST(SaslXOAuth2, AcceptsMatchingUser) {
  auto m = make_mechanism("XOAUTH2", oauth_context());
  const auto step = m->step(
      xoauth2_message("alice@example.org", make_token(ec_key().get(), "ES256", good_claims())));
  EXPECT_EQ(step.status, StepStatus::success) << step.reason;
  EXPECT_EQ(m->user(), "alice@example.org");
}

TEST(SaslXOAuth2, MismatchGetsErrorChallengeThenFailure) {
  auto m = make_mechanism("XOAUTH2", oauth_context());
  const auto first = m->step(
      xoauth2_message("bob@example.org", make_token(ec_key().get(), "ES256", good_claims())));
  ASSERT_EQ(first.status, StepStatus::challenge);
  EXPECT_EQ(Json::parse(first.data)["status"], "401");
  EXPECT_EQ(m->step(""sv).status, StepStatus::failure);
}

TEST(SaslXOAuth2, MalformedMessagesFail) {
  const auto token = make_token(ec_key().get(), "ES256", good_claims());
  const std::string bad[] = {
      "",
      "\x01",
      "auth=Bearer " + token + "\x01\x01",
      "user=\x01"
      "auth=Bearer " +
          token + "\x01\x01",
      "user=alice@example.org\x01\x01",
      "user=alice@example.org\x01"
      "auth=Bearer " +
          token + "\x01",
      "user=alice@example.org"
      "auth=Bearer " +
          token + "\x01\x01",
  };
  for (const auto& message : bad) {
    EXPECT_EQ(make_mechanism("XOAUTH2", oauth_context())->step(message).status, StepStatus::failure)
        << message.substr(0, 60);
  }
}

}  // namespace
}  // namespace postern::auth::sasl
