// PLAIN, LOGIN and CRAM-MD5 through the factory, as the POP3 session drives them.
#include <gtest/gtest.h>

#include <map>

#include "auth/sasl/digest.hpp"
#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {
namespace {

using namespace std::literals;

MechanismContext test_context() {
  static const std::map<std::string, std::string, std::less<>> users{
      {"alice", "{PLAIN}wonderland"}, {"bob", "{CRYPT}$y$j9T$hashed"}, {"carol", "{CLEAR}sing"}};
  MechanismContext context;
  context.tls_active = true;
  context.hostname = "pop.example.org";
  context.secret_lookup = [](std::string_view user) -> std::optional<std::string> {
    const auto it = users.find(user);
    if (it == users.end()) return std::nullopt;
    return it->second;
  };
  context.password_check = [](std::string_view user, std::string_view password) {
    return user == "alice" && password == "wonderland";
  };
  context.nonce_source = [] { return "12345"s; };
  return context;
}

Step run(std::string_view mechanism, std::optional<std::string_view> initial) {
  auto m = make_mechanism(mechanism, test_context());
  EXPECT_NE(m, nullptr);
  return m->step(initial);
}

TEST(SaslPlain, AcceptsGoodCredentials) {
  auto m = make_mechanism("PLAIN", test_context());
  const auto step = m->step("\0alice\0wonderland"s);
  EXPECT_EQ(step.status, StepStatus::success) << step.reason;
  EXPECT_EQ(m->user(), "alice");
  EXPECT_EQ(m->step("x"sv).status, StepStatus::failure);
}

TEST(SaslPlain, AcceptsEqualAuthzid) {
  EXPECT_EQ(run("plain", "alice\0alice\0wonderland"s).status, StepStatus::success);
}

TEST(SaslPlain, EmptyChallengeWithoutInitialResponse) {
  auto m = make_mechanism("PLAIN", test_context());
  const auto first = m->step(std::nullopt);
  EXPECT_EQ(first.status, StepStatus::challenge);
  EXPECT_EQ(first.data, "");
  EXPECT_EQ(m->step("\0alice\0wonderland"s).status, StepStatus::success);
}

TEST(SaslPlain, RejectsBadMessages) {
  const std::string bad[] = {
      "",
      "alice",
      "\0alice"s,
      "\0alice\0wrong"s,
      "\0alice\0wonderland\0"s,
      "bob\0alice\0wonderland"s,
      "\0\0wonderland"s,
      "\0alice\0"s,
      "\0al/ice\0wonderland"s,
      "\0mallory\0wonderland"s,
  };
  for (const auto& message : bad) {
    const auto step = run("PLAIN", message);
    EXPECT_EQ(step.status, StepStatus::failure) << message;
    EXPECT_FALSE(step.reason.empty());
  }
}

TEST(SaslLogin, TwoChallenges) {
  auto m = make_mechanism("LOGIN", test_context());
  auto step = m->step(std::nullopt);
  EXPECT_EQ(step.status, StepStatus::challenge);
  EXPECT_EQ(step.data, "Username:");
  step = m->step("alice"sv);
  EXPECT_EQ(step.status, StepStatus::challenge);
  EXPECT_EQ(step.data, "Password:");
  step = m->step("wonderland"sv);
  EXPECT_EQ(step.status, StepStatus::success) << step.reason;
  EXPECT_EQ(m->user(), "alice");
}

TEST(SaslLogin, InitialResponseIsTheUserName) {
  auto m = make_mechanism("LOGIN", test_context());
  EXPECT_EQ(m->step("alice"sv).data, "Password:");
  EXPECT_EQ(m->step("wonderland"sv).status, StepStatus::success);
}

TEST(SaslLogin, RejectsWrongPasswordAndBadNames) {
  auto m = make_mechanism("LOGIN", test_context());
  m->step(std::nullopt);
  m->step("alice"sv);
  EXPECT_EQ(m->step("wrong"sv).status, StepStatus::failure);
  EXPECT_EQ(m->user(), "");

  auto n = make_mechanism("LOGIN", test_context());
  n->step(std::nullopt);
  EXPECT_EQ(n->step("a\0b"s).status, StepStatus::failure);
  EXPECT_EQ(n->step("wonderland"sv).status, StepStatus::failure);
}

std::string cram_response(const std::string& user, const std::string& secret,
                          const std::string& challenge) {
  return user + " " + to_hex(hmac_md5(secret, challenge));
}

TEST(SaslCramMd5, ChallengeShapeAndSuccess) {
  auto m = make_mechanism("CRAM-MD5", test_context());
  const auto first = m->step(std::nullopt);
  ASSERT_EQ(first.status, StepStatus::challenge);
  EXPECT_TRUE(first.data.starts_with("<12345."));
  EXPECT_TRUE(first.data.ends_with("@pop.example.org>"));
  const auto step = m->step(cram_response("alice", "wonderland", first.data));
  EXPECT_EQ(step.status, StepStatus::success) << step.reason;
  EXPECT_EQ(m->user(), "alice");
}

TEST(SaslCramMd5, RandomChallengesDiffer) {
  auto context = test_context();
  context.nonce_source = nullptr;
  const auto a = make_mechanism("CRAM-MD5", context)->step(std::nullopt).data;
  const auto b = make_mechanism("CRAM-MD5", context)->step(std::nullopt).data;
  EXPECT_NE(a, b);
}

TEST(SaslCramMd5, AcceptsUpperCaseHex) {
  auto m = make_mechanism("CRAM-MD5", test_context());
  const auto challenge = m->step(std::nullopt).data;
  auto response = cram_response("carol", "sing", challenge);
  for (auto& c : response) c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  response.replace(0, 5, "carol");
  EXPECT_EQ(m->step(response).status, StepStatus::success);
}

TEST(SaslCramMd5, Failures) {
  struct Case {
    std::string user;
    std::string secret;
    std::string reason;
  };
  const Case cases[] = {{"alice", "wrong", "wrong password"},
                        {"bob", "x", "no plaintext-equivalent secret"},
                        {"nobody", "x", "unknown user"}};
  for (const auto& c : cases) {
    auto m = make_mechanism("CRAM-MD5", test_context());
    const auto challenge = m->step(std::nullopt).data;
    const auto step = m->step(cram_response(c.user, c.secret, challenge));
    EXPECT_EQ(step.status, StepStatus::failure);
    EXPECT_EQ(step.reason, c.reason);
  }
}

TEST(SaslCramMd5, RefusesInitialResponseAndMalformedAnswers) {
  EXPECT_EQ(run("CRAM-MD5", ""sv).status, StepStatus::failure);
  for (const auto& bad :
       {""s, "alice"s, "alice "s, " 0123456789abcdef0123456789abcdef"s,
        "alice 0123456789abcdef0123456789abcde"s, "alice 0123456789abcdef0123456789abcdeg"s,
        "alice\0 0123456789abcdef0123456789abcdef"s}) {
    auto m = make_mechanism("CRAM-MD5", test_context());
    m->step(std::nullopt);
    EXPECT_EQ(m->step(bad).status, StepStatus::failure) << bad;
  }
}

}  // namespace
}  // namespace postern::auth::sasl
