#include <gtest/gtest.h>

#include <map>

#include "auth/sasl/base64.hpp"
#include "auth/sasl/digest.hpp"
#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {
namespace {

using namespace std::literals;

// RFC 7677 section 3: user "user", password "pencil". The stored secret is Dovecot's format for
// that salt and iteration count (keys computed with Python's hashlib/hmac when writing the test).
constexpr auto rfc_stored =
    "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
constexpr auto rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr auto rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr auto rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr auto rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr auto rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

const std::string exporter(32, '\x5a');

MechanismContext scram_context(bool with_exporter = false) {
  static const std::map<std::string, std::string, std::less<>> users{
      {"user", rfc_stored},
      {"alice", "{PLAIN}wonderland"},
      {"bob", "{CRYPT}$y$j9T$hashed"},
      {"a,b=c", "{PLAIN}x"},
  };
  MechanismContext context;
  context.secret_lookup = [](std::string_view user) -> std::optional<std::string> {
    const auto it = users.find(user);
    if (it == users.end()) return std::nullopt;
    return it->second;
  };
  context.nonce_source = [] { return std::string(rfc_server_nonce); };
  context.tls_active = true;
  if (with_exporter) context.tls_exporter = exporter;
  return context;
}

TEST(SaslScram, Rfc7677Example) {
  auto m = make_mechanism("SCRAM-SHA-256", scram_context());
  ASSERT_NE(m, nullptr);
  const auto first = m->step(std::string_view(rfc_client_first));
  ASSERT_EQ(first.status, StepStatus::challenge) << first.reason;
  EXPECT_EQ(first.data, rfc_server_first);
  const auto final_step = m->step(std::string_view(rfc_client_final));
  ASSERT_EQ(final_step.status, StepStatus::success) << final_step.reason;
  EXPECT_EQ(final_step.data, rfc_server_final);
  EXPECT_EQ(m->user(), "user");
  EXPECT_EQ(m->step(""sv).status, StepStatus::failure);
}

TEST(SaslScram, EmptyChallengeWhenNoInitialResponse) {
  auto m = make_mechanism("SCRAM-SHA-256", scram_context());
  const auto empty = m->step(std::nullopt);
  EXPECT_EQ(empty.status, StepStatus::challenge);
  EXPECT_EQ(empty.data, "");
  EXPECT_EQ(m->step(std::string_view(rfc_client_first)).data, rfc_server_first);
  EXPECT_EQ(m->step(std::string_view(rfc_client_final)).status, StepStatus::success);
}

// A minimal client, built on the library's primitives (themselves checked by the RFC example).
struct Client {
  Client(std::string gs2_header, std::string name, std::string secret)
      : gs2(std::move(gs2_header)), user(std::move(name)), password(std::move(secret)) {}

  std::string gs2;
  std::string user;
  std::string password;
  std::string nonce = "clientnonce";
  std::string binding_data;

  std::string first() const { return gs2 + "n=" + user + ",r=" + nonce; }

  std::string final_message(const std::string& server_first) const {
    std::map<char, std::string> attrs;
    std::string_view rest = server_first;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const auto part = rest.substr(0, comma);
      attrs[part[0]] = std::string(part.substr(2));
      rest = comma == std::string_view::npos ? ""sv : rest.substr(comma + 1);
    }
    const auto salt = *decode_base64(attrs['s']);
    const auto salted =
        pbkdf2_sha256(password, salt, static_cast<unsigned>(std::stoul(attrs['i'])));
    const auto client_key = hmac_sha256(salted, "Client Key");
    const std::string without_proof = "c=" + encode_base64(gs2 + binding_data) + ",r=" + attrs['r'];
    const auto bare = first().substr(gs2.size());
    const auto auth_message = bare + "," + server_first + "," + without_proof;
    auto proof = hmac_sha256(sha256(client_key), auth_message);
    for (std::size_t i = 0; i < proof.size(); ++i) {
      proof[i] = static_cast<char>(proof[i] ^ client_key[i]);
    }
    return without_proof + ",p=" + encode_base64(proof);
  }
};

Step run_client(std::string_view mechanism, const MechanismContext& context, const Client& client,
                std::string* user = nullptr) {
  auto m = make_mechanism(mechanism, context);
  EXPECT_NE(m, nullptr);
  if (!m) return {};
  const auto first = m->step(client.first());
  if (first.status != StepStatus::challenge) return first;
  auto result = m->step(client.final_message(first.data));
  if (user) *user = m->user();
  return result;
}

TEST(SaslScram, DerivesKeysFromPlainSecret) {
  std::string user;
  const auto step =
      run_client("SCRAM-SHA-256", scram_context(), Client{"n,,", "alice", "wonderland"}, &user);
  EXPECT_EQ(step.status, StepStatus::success) << step.reason;
  EXPECT_TRUE(step.data.starts_with("v="));
  EXPECT_EQ(user, "alice");
}

TEST(SaslScram, AuthzidEqualToUserIsAccepted) {
  EXPECT_EQ(
      run_client("SCRAM-SHA-256", scram_context(), Client{"n,a=alice,", "alice", "wonderland"})
          .status,
      StepStatus::success);
  EXPECT_EQ(run_client("SCRAM-SHA-256", scram_context(), Client{"n,a=user,", "alice", "wonderland"})
                .status,
            StepStatus::failure);
}

TEST(SaslScram, WrongPasswordUnknownUserAndHashedSecretFailAtTheProof) {
  struct Case {
    const char* user;
    const char* password;
    const char* reason;
  };
  const Case cases[] = {{"alice", "wrong", "wrong password"},
                        {"user", "pencils", "wrong password"},
                        {"nobody", "x", "unknown user"},
                        {"bob", "x", "no SCRAM-SHA-256 or plaintext-equivalent secret"},
                        {"a=2Cb=3Dc", "y", "wrong password"}};
  for (const auto& c : cases) {
    auto m = make_mechanism("SCRAM-SHA-256", scram_context());
    const Client client{"n,,", c.user, c.password};
    const auto first = m->step(client.first());
    ASSERT_EQ(first.status, StepStatus::challenge) << c.user;  // no enumeration at this point
    const auto step = m->step(client.final_message(first.data));
    EXPECT_EQ(step.status, StepStatus::failure) << c.user;
    EXPECT_EQ(step.reason, c.reason) << c.user;
  }
}

TEST(SaslScram, UserNameEscapesAreDecoded) {
  std::string user;
  const auto step =
      run_client("SCRAM-SHA-256", scram_context(), Client{"n,,", "a=2Cb=3Dc", "x"}, &user);
  EXPECT_EQ(step.status, StepStatus::success) << step.reason;
  EXPECT_EQ(user, "a,b=c");
}

TEST(SaslScram, ChannelBindingFlags) {
  const auto plain = scram_context(false);
  const auto plus = scram_context(true);
  struct Case {
    const char* mechanism;
    bool with_exporter;
    const char* gs2;
    std::string binding;
    StepStatus want;
  };
  const Case cases[] = {
      {"SCRAM-SHA-256", false, "n,,", "", StepStatus::success},
      {"SCRAM-SHA-256", false, "y,,", "", StepStatus::success},
      {"SCRAM-SHA-256", true, "n,,", "", StepStatus::success},
      {"SCRAM-SHA-256", true, "y,,", "", StepStatus::failure},  // downgrade
      {"SCRAM-SHA-256", true, "p=tls-exporter,,", exporter, StepStatus::failure},
      {"SCRAM-SHA-256-PLUS", true, "p=tls-exporter,,", exporter, StepStatus::success},
      {"SCRAM-SHA-256-PLUS", true, "p=tls-exporter,a=alice,", exporter, StepStatus::success},
      {"SCRAM-SHA-256-PLUS", true, "p=tls-exporter,,", std::string(32, 'x'), StepStatus::failure},
      {"SCRAM-SHA-256-PLUS", true, "p=tls-exporter,,", "", StepStatus::failure},
      {"SCRAM-SHA-256-PLUS", true, "p=tls-unique,,", exporter, StepStatus::failure},
      {"SCRAM-SHA-256-PLUS", true, "n,,", "", StepStatus::failure},
      {"SCRAM-SHA-256-PLUS", true, "y,,", "", StepStatus::failure},
  };
  for (const auto& c : cases) {
    Client client{c.gs2, "alice", "wonderland"};
    client.binding_data = c.binding;
    const auto step = run_client(c.mechanism, c.with_exporter ? plus : plain, client);
    EXPECT_EQ(step.status, c.want) << c.mechanism << " " << c.gs2 << " " << step.reason;
  }
}

TEST(SaslScram, PlusUnavailableWithoutExporter) {
  EXPECT_EQ(make_mechanism("SCRAM-SHA-256-PLUS", scram_context(false)), nullptr);
}

TEST(SaslScram, MalformedClientFirstMessages) {
  const std::string bad[] = {
      "",
      "n",
      "n,",
      "n,,",
      "x,,n=user,r=abc",
      "p,,n=user,r=abc",
      "n,b=user,n=user,r=abc",
      "n,a=,n=user,r=abc",
      "n,a=us=er,n=user,r=abc",
      "n,,m=ext,n=user,r=abc",
      "n,,n=user",
      "n,,n=,r=abc",
      "n,,n=us=er,r=abc",
      "n,,n=us=2,r=abc",
      "n,,n=user,r=",
      "n,,n=user,r=a b",
      "n,,n=user,r=a\x7f",
      "n,,n=user,r=abc,",
      "n,,n=user,r=abc,,",
      "n,,n=user,r=abc,1=x",
      "n,,n=user,r=abc,x=",
      "n,,r=abc,n=user",
      "n,,n=user,,r=abc",
      "n,,n=us\0er,r=abc"s,
      "n,,n=user,r=ab\xc3\xa9",
      "n,,n=user,r=" + std::string(10000, 'a'),
  };
  for (const auto& message : bad) {
    auto m = make_mechanism("SCRAM-SHA-256", scram_context());
    const auto step = m->step(message);
    EXPECT_EQ(step.status, StepStatus::failure) << message;
    EXPECT_EQ(m->step("c=biws,r=x,p=AAAA"sv).status, StepStatus::failure);
  }
}

TEST(SaslScram, AcceptsOptionalExtensionsInClientFirst) {
  auto m = make_mechanism("SCRAM-SHA-256", scram_context());
  EXPECT_EQ(m->step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO,x=whatever"sv).status, StepStatus::challenge);
}

TEST(SaslScram, MalformedClientFinalMessages) {
  const std::string nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const std::string bad[] = {
      "",
      "c=biws",
      "c=biws,r=" + nonce,
      "c=biws,r=" + nonce + ",p=",
      "c=biws,r=" + nonce + ",p=!!!!",
      "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
      "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=y",
      "c=biws,r=" + nonce + ",p=AAAA",
      "c=biws,r=" + nonce + ",p=" + std::string(100, 'A'),
      "c=eSws,r=" + nonce + "," + proof,  // "y,," instead of "n,,"
      "c=bi==,r=" + nonce + "," + proof,
      "c=biws,r=" + nonce + "x," + proof,
      "c=biws,r=rOprNGfwEbeRWgbNEkqO," + proof,
      "r=" + nonce + ",c=biws," + proof,
      "c=biws," + proof,
      "c=biws,r=" + nonce + ",," + proof,
      "c=biws,r=" + nonce + ",1=x," + proof,
      ",p=" + proof,
      "c=biws,r=" + nonce + "\0," + proof,
      "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVR=",
      "c=biws,r=" + nonce + "," + std::string(9000, 'a'),
  };
  for (const auto& message : bad) {
    auto m = make_mechanism("SCRAM-SHA-256", scram_context());
    ASSERT_EQ(m->step(std::string_view(rfc_client_first)).status, StepStatus::challenge);
    const auto step = m->step(message);
    EXPECT_EQ(step.status, StepStatus::failure) << message;
  }
}

TEST(SaslScram, ExtensionBeforeProofIsIgnored) {
  auto m = make_mechanism("SCRAM-SHA-256", scram_context());
  m->step(std::string_view(rfc_client_first));
  // An extension changes AuthMessage, so the RFC proof no longer matches: failure, not crash.
  const std::string msg =
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,x=1,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const auto step = m->step(msg);
  EXPECT_EQ(step.status, StepStatus::failure);
  EXPECT_EQ(step.reason, "wrong password");
}

TEST(SaslScram, RandomServerNoncesDiffer) {
  auto context = scram_context();
  context.nonce_source = nullptr;
  const auto a =
      make_mechanism("SCRAM-SHA-256", context)->step(std::string_view(rfc_client_first)).data;
  const auto b =
      make_mechanism("SCRAM-SHA-256", context)->step(std::string_view(rfc_client_first)).data;
  EXPECT_NE(a, b);
  EXPECT_TRUE(a.starts_with("r=rOprNGfwEbeRWgbNEkqO"));
}

}  // namespace
}  // namespace postern::auth::sasl
