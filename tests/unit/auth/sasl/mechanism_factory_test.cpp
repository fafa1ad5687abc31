#include <gtest/gtest.h>

#include <random>

#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {
namespace {

using Names = std::vector<std::string>;

MechanismContext full_context() {
  MechanismContext context;
  context.secret_lookup = [](std::string_view) -> std::optional<std::string> {
    return "{PLAIN}secret";
  };
  context.password_check = [](std::string_view, std::string_view) { return false; };
  context.tls_active = true;
  context.tls_exporter = std::string(32, 'e');
  context.oauth = OAuthConfig{};
  return context;
}

TEST(SaslFactory, ListsEverythingUnderTlsWithExporter) {
  EXPECT_EQ(available_mechanisms(full_context()),
            (Names{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2", "CRAM-MD5",
                   "PLAIN", "LOGIN"}));
}

TEST(SaslFactory, WithoutTlsOnlyChallengeResponse) {
  auto context = full_context();
  context.tls_active = false;
  EXPECT_EQ(available_mechanisms(context), (Names{"SCRAM-SHA-256", "CRAM-MD5"}));
  EXPECT_EQ(make_mechanism("PLAIN", context), nullptr);
  EXPECT_EQ(make_mechanism("SCRAM-SHA-256-PLUS", context), nullptr);
  context.allow_plaintext_without_tls = true;
  EXPECT_EQ(available_mechanisms(context),
            (Names{"SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2", "CRAM-MD5", "PLAIN", "LOGIN"}));
}

TEST(SaslFactory, MissingCallbacksRemoveMechanisms) {
  auto context = full_context();
  context.secret_lookup = nullptr;
  context.oauth.reset();
  context.tls_exporter.reset();
  EXPECT_EQ(available_mechanisms(context), (Names{"PLAIN", "LOGIN"}));
  context.password_check = nullptr;
  EXPECT_TRUE(available_mechanisms(context).empty());
}

TEST(SaslFactory, EveryListedNameIsMadeCaseInsensitively) {
  const auto context = full_context();
  for (const auto& name : available_mechanisms(context)) {
    auto m = make_mechanism(name, context);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_EQ(m->name(), name);
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    EXPECT_NE(make_mechanism(lower, context), nullptr) << lower;
  }
  for (const char* unknown : {"", "GSSAPI", "DIGEST-MD5", "SCRAM-SHA-1", "PLAIN ", "ANONYMOUS"}) {
    EXPECT_EQ(make_mechanism(unknown, context), nullptr) << unknown;
  }
}

// Every mechanism, fed random bytes and random structure-shaped fragments step after step, must
// only ever answer with a Step (no crash, no exception, no success).
TEST(SaslFactory, SurvivesRandomInput) {
  const auto context = full_context();
  std::mt19937 rng(20260);
  const std::string fragments[] = {",",
                                   "=",
                                   "n",
                                   "y",
                                   "p=tls-exporter",
                                   "a=",
                                   "r=",
                                   "c=",
                                   "p=",
                                   "\x01",
                                   std::string(1, '\0'),
                                   "auth=Bearer ",
                                   "user=",
                                   "=2C",
                                   "biws",
                                   "AAAA",
                                   ".",
                                   " ",
                                   "m=",
                                   "n,,",
                                   "e30"};
  for (const auto& name : available_mechanisms(context)) {
    for (int round = 0; round < 300; ++round) {
      auto m = make_mechanism(name, context);
      for (int step = 0; step < 4; ++step) {
        std::string data;
        const int pieces = static_cast<int>(rng() % 12);
        for (int i = 0; i < pieces; ++i) {
          if (rng() % 2 == 0) {
            data += fragments[rng() % std::size(fragments)];
          } else {
            data.push_back(static_cast<char>(rng() % 256));
          }
        }
        std::optional<std::string_view> input;
        if (rng() % 8 != 0) input = data;
        Step result;
        ASSERT_NO_THROW(result = m->step(input)) << name;
        EXPECT_NE(result.status, StepStatus::success) << name;
        if (result.status == StepStatus::failure) break;
      }
    }
  }
}

}  // namespace
}  // namespace postern::auth::sasl
