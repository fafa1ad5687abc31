// pop3::Session's AUTH (RFC 5034) and APOP (RFC 1939 section 7) dialogue, with a scripted fake
// mechanism: the framing, base64, cancel, line limits and failure counting are the session's job.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "pop3/session_driver.hpp"

namespace postern::pop3 {
namespace {

using namespace std::string_literals;
using auth::sasl::Step;
using auth::sasl::StepStatus;

Step challenge(std::string data) {
  return {StepStatus::challenge, std::move(data), {}};
}
Step success(std::string data = {}) {
  return {StepStatus::success, std::move(data), {}};
}
Step failure() {
  return {StepStatus::failure, {}, "wrong password"};
}

SessionOptions sasl_options() {
  SessionOptions options;
  options.sasl_mechanisms = {"SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"};
  return options;
}

class SaslTest : public SessionTest {
 public:
  SaslTest() : SessionTest(sasl_options()) {}
};

// ---- CAPA and the mechanism list ----

TEST_F(SaslTest, CapaListsTheMechanismsInOrder) {
  const auto caps = capabilities(d.send("CAPA\r\n"));
  EXPECT_TRUE(has(caps, "SASL SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"));
}

TEST_F(SessionTest, CapaHasNoSaslLineWithoutMechanisms) {
  for (const auto& cap : capabilities(d.send("CAPA\r\n"))) EXPECT_FALSE(starts_with(cap, "SASL"));
}

TEST_F(SaslTest, CapaAfterLoginHasNoSaslLine) {
  login();
  for (const auto& cap : capabilities(d.send("CAPA\r\n"))) EXPECT_FALSE(starts_with(cap, "SASL"));
}

TEST_F(SaslTest, NewMechanismsShowInCapa) {
  d.session().set_sasl_mechanisms({"SCRAM-SHA-256-PLUS", "PLAIN"});
  EXPECT_TRUE(has(capabilities(d.send("CAPA\r\n")), "SASL SCRAM-SHA-256-PLUS PLAIN"));
  EXPECT_TRUE(one_reply(d.send("AUTH LOGIN\r\n"), "-ERR"));
}

TEST_F(SaslTest, BareAuthListsTheMechanisms) {
  const auto got = lines(d.send("AUTH\r\n"));
  const std::vector<std::string> expected{"SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN", "."};
  ASSERT_EQ(got.size(), expected.size() + 1);
  EXPECT_TRUE(starts_with(got[0], "+OK"));
  EXPECT_EQ(std::vector<std::string>(got.begin() + 1, got.end()), expected);
  EXPECT_TRUE(d.actions<action::SaslStart>().empty());
}

TEST_F(SaslTest, UnofferedMechanismIsRefusedWithoutAnAction) {
  EXPECT_TRUE(one_reply(d.send("AUTH GSSAPI\r\n"), "-ERR"));
  EXPECT_TRUE(one_reply(d.send("AUTH XOAUTH2 dGVzdA==\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::SaslStart>().empty());
}

TEST_F(SaslTest, AuthAfterLoginIsRefused) {
  login();
  EXPECT_TRUE(one_reply(d.send("AUTH PLAIN\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::SaslStart>().empty());
}

// ---- the exchange ----

TEST_F(SaslTest, InitialResponseIsDecodedAndSuccessLogsIn) {
  d.sasl_script = {success()};
  EXPECT_TRUE(one_reply(d.send("auth plain AGFsaWNlAHB3\r\n"), "+OK Logged in"));
  const auto starts = d.actions<action::SaslStart>();
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].mechanism, "PLAIN");  // names are case-insensitive
  EXPECT_EQ(starts[0].initial, "\0alice\0pw"s);
  ASSERT_EQ(d.actions<action::OpenMaildrop>().size(), 1u);
  EXPECT_EQ(d.actions<action::OpenMaildrop>()[0].user, "alice");
  EXPECT_EQ(d.session().user(), "alice");
  EXPECT_EQ(d.session().state(), SessionState::transaction);
}

TEST_F(SaslTest, EqualsSignIsAnEmptyInitialResponse) {
  d.sasl_script = {failure()};
  d.send("AUTH PLAIN =\r\n");
  ASSERT_EQ(d.actions<action::SaslStart>().size(), 1u);
  EXPECT_EQ(d.actions<action::SaslStart>()[0].initial, "");
}

TEST_F(SaslTest, WithoutInitialResponseTheMechanismGetsNone) {
  d.sasl_script = {challenge(""), success()};
  EXPECT_EQ(d.send("AUTH PLAIN\r\n"), "+ \r\n");
  ASSERT_EQ(d.actions<action::SaslStart>().size(), 1u);
  EXPECT_FALSE(d.actions<action::SaslStart>()[0].initial.has_value());
  EXPECT_TRUE(one_reply(d.send("AGFsaWNlAHB3\r\n"), "+OK Logged in"));
  ASSERT_EQ(d.actions<action::SaslContinue>().size(), 1u);
  EXPECT_EQ(d.actions<action::SaslContinue>()[0].response, "\0alice\0pw"s);
}

TEST_F(SaslTest, ChallengesGoOutInBase64AndResponsesComeBackDecoded) {
  d.sasl_script = {challenge("Username:"), challenge("Password:"), success()};
  EXPECT_EQ(d.send("AUTH LOGIN\r\n"), "+ VXNlcm5hbWU6\r\n");
  EXPECT_EQ(d.send("YWxpY2U=\r\n"), "+ UGFzc3dvcmQ6\r\n");
  EXPECT_TRUE(one_reply(d.send("cHc=\r\n"), "+OK"));
  const auto responses = d.actions<action::SaslContinue>();
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[0].response, "alice");
  EXPECT_EQ(responses[1].response, "pw");
}

TEST_F(SaslTest, EmptyLineIsAnEmptyResponse) {
  d.sasl_script = {challenge("x"), failure()};
  d.send("AUTH LOGIN\r\n");
  d.send("\r\n");
  ASSERT_EQ(d.actions<action::SaslContinue>().size(), 1u);
  EXPECT_EQ(d.actions<action::SaslContinue>()[0].response, "");
}

TEST_F(SaslTest, StarCancelsTheExchangeAndTheSessionGoesOn) {
  d.sasl_script = {challenge("Username:")};
  d.send("AUTH LOGIN\r\n");
  EXPECT_TRUE(one_reply(d.send("*\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::SaslContinue>().empty());
  EXPECT_EQ(d.session().state(), SessionState::authorization);
  login();  // USER/PASS still work: a cancel is no authentication failure
}

TEST_F(SaslTest, InvalidBase64EndsTheExchange) {
  d.sasl_script = {challenge("Username:")};
  d.send("AUTH LOGIN\r\n");
  EXPECT_TRUE(one_reply(d.send("not base64!\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::SaslContinue>().empty());
  // The next line is a command again, not a response.
  EXPECT_TRUE(starts_with(lines(d.send("CAPA\r\n")).at(0), "+OK"));
}

TEST_F(SaslTest, InvalidBase64InitialResponseStartsNoExchange) {
  EXPECT_TRUE(one_reply(d.send("AUTH PLAIN AGFsaWNlAHB3=\r\n"), "-ERR"));
  EXPECT_TRUE(one_reply(d.send("AUTH PLAIN a b\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::SaslStart>().empty());
}

TEST_F(SaslTest, LongResponsesAreAcceptedOnlyDuringTheExchange) {
  const std::string long_line(4000, 'Q');  // base64 of 3000 bytes, a JWT-sized response
  EXPECT_TRUE(one_reply(d.send(long_line + "\r\n"), "-ERR Line too long"));
  d.sasl_script = {challenge(""), success()};
  d.send("AUTH PLAIN\r\n");
  EXPECT_TRUE(one_reply(d.send(long_line + "\r\n"), "+OK Logged in"));
  ASSERT_EQ(d.actions<action::SaslContinue>().size(), 1u);
  EXPECT_EQ(d.actions<action::SaslContinue>()[0].response.size(), 3000u);
  EXPECT_TRUE(one_reply(d.send(long_line + "\r\n"), "-ERR Line too long"));
}

TEST_F(SaslTest, LimitIsRestoredAfterACancel) {
  d.sasl_script = {challenge("")};
  d.send("AUTH PLAIN\r\n");
  d.send("*\r\n");
  EXPECT_TRUE(one_reply(d.send(std::string(300, 'Q') + "\r\n"), "-ERR Line too long"));
}

TEST_F(SaslTest, ResponseAboveTheSaslLimitIsRefused) {
  d.sasl_script = {challenge("")};
  d.send("AUTH PLAIN\r\n");
  EXPECT_TRUE(one_reply(d.send(std::string(20000, 'Q') + "\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::SaslContinue>().empty());
  EXPECT_TRUE(starts_with(lines(d.send("CAPA\r\n")).at(0), "+OK"));
}

TEST_F(SaslTest, PipelinedCommandsAfterAnInitialResponseRunAfterLogin) {
  d.sasl_script = {success()};
  const auto got = lines(d.send("AUTH PLAIN AGFsaWNlAHB3\r\nSTAT\r\n"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(starts_with(got[0], "+OK Logged in"));
  EXPECT_TRUE(starts_with(got[1], "+OK 3 "));
}

// ---- failures ----

TEST_F(SaslTest, FailureIsAnAuthError) {
  d.sasl_script = {failure()};
  EXPECT_TRUE(one_reply(d.send("AUTH PLAIN AGFsaWNlAHB3\r\n"), "-ERR [AUTH]"));
  EXPECT_TRUE(d.actions<action::OpenMaildrop>().empty());
  EXPECT_EQ(d.session().state(), SessionState::authorization);
}

TEST_F(SaslTest, FailuresCountTowardTheLimitWithPassFailures) {
  d.sasl_script = {failure(), challenge(""), failure()};
  EXPECT_TRUE(one_reply(d.send("AUTH PLAIN AGFsaWNlAHB3\r\n"), "-ERR [AUTH]"));
  const auto pass = lines(d.send("USER alice\r\nPASS wrong\r\n"));
  ASSERT_EQ(pass.size(), 2u);
  EXPECT_TRUE(starts_with(pass[1], "-ERR [AUTH]"));
  d.send("AUTH PLAIN\r\n");
  const auto got = lines(d.send("AGFsaWNlAHB3\r\n"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(starts_with(got[0], "-ERR [AUTH]"));
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.session().close_reason(), "too many authentication failures");
}

// SCRAM ends with server data (the server signature): RFC 5034 sends it as one more challenge,
// and the client answers with an empty line.
TEST_F(SaslTest, FinalServerDataIsAChallengeAndAnEmptyLineCompletesTheLogin) {
  d.sasl_script = {challenge("r=nonce,s=salt,i=4096"), success("v=server-signature")};
  d.send("AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPWFiYw==\r\n");
  EXPECT_EQ(d.send("Yz1iaXdzLHI9bm9uY2UscD1wcm9vZg==\r\n"), "+ dj1zZXJ2ZXItc2lnbmF0dXJl\r\n");
  EXPECT_TRUE(d.actions<action::OpenMaildrop>().empty());
  EXPECT_TRUE(one_reply(d.send("\r\n"), "+OK Logged in"));
  EXPECT_EQ(d.session().state(), SessionState::transaction);
  EXPECT_EQ(d.actions<action::SaslContinue>().size(), 1u);  // the empty line is not a step
}

TEST_F(SaslTest, FinalServerDataCancelledByTheClientDoesNotLogIn) {
  d.sasl_script = {success("v=server-signature")};
  EXPECT_EQ(d.send("AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPWFiYw==\r\n"),
            "+ dj1zZXJ2ZXItc2lnbmF0dXJl\r\n");
  EXPECT_TRUE(one_reply(d.send("*\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::OpenMaildrop>().empty());
  EXPECT_EQ(d.session().state(), SessionState::authorization);
  EXPECT_EQ(d.session().user(), "");
}

TEST_F(SaslTest, FinalServerDataAnsweredWithDataDoesNotLogIn) {
  d.sasl_script = {success("v=server-signature")};
  d.send("AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPWFiYw==\r\n");
  EXPECT_TRUE(one_reply(d.send("YWJj\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::OpenMaildrop>().empty());
  EXPECT_EQ(d.session().state(), SessionState::authorization);
}

// ---- APOP ----

SessionOptions apop_options() {
  SessionOptions options;
  options.hostname = "mail.example";
  options.apop_enabled = true;
  options.apop_timestamp = "<1896.697170952@dbc.mtview.ca.us>";
  return options;
}

TEST_F(SessionTest, GreetingHasNoTimestampWithoutApop) {
  EXPECT_EQ(d.greeting().find('<'), std::string::npos);
  EXPECT_TRUE(one_reply(d.send("APOP alice 0123456789abcdef0123456789abcdef\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::Apop>().empty());
}

TEST(SessionApopTest, GreetingEndsWithTheTimestamp) {
  Driver d(apop_options());
  EXPECT_EQ(d.greeting(),
            "+OK mail.example POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n");
}

TEST(SessionApopTest, GoodDigestLogsIn) {
  Driver d(apop_options());
  EXPECT_TRUE(one_reply(d.send("APOP alice 0123456789ABCDEF0123456789abcdef\r\n"), "-ERR [AUTH]"));
  EXPECT_TRUE(
      one_reply(d.send("APOP alice 0123456789abcdef0123456789abcdef\r\n"), "+OK Logged in"));
  const auto requests = d.actions<action::Apop>();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].user, "alice");
  EXPECT_EQ(requests[1].timestamp, "<1896.697170952@dbc.mtview.ca.us>");
  EXPECT_EQ(d.session().state(), SessionState::transaction);
}

TEST(SessionApopTest, FailuresCountTowardTheLimit) {
  Driver d(apop_options());
  for (int i = 0; i < 3; ++i) d.send("APOP bob 0123456789abcdef0123456789abcdef\r\n");
  EXPECT_TRUE(d.closed());
}

TEST(SessionApopTest, MalformedCommandsAskForNothing) {
  Driver d(apop_options());
  for (const char* line : {"APOP\r\n", "APOP alice\r\n", "APOP alice 0123\r\n",
                           "APOP alice 0123456789abcdef0123456789abcdeg\r\n",
                           "APOP ../x 0123456789abcdef0123456789abcdef\r\n"}) {
    EXPECT_TRUE(one_reply(d.send(line), "-ERR")) << line;
  }
  EXPECT_TRUE(d.actions<action::Apop>().empty());
  EXPECT_FALSE(d.closed());
}

TEST(SessionApopTest, GeneratedTimestampsAreUniqueAndWellFormed) {
  SessionOptions options;
  options.hostname = "mail.example";
  options.apop_enabled = true;
  std::set<std::string> seen;
  const std::regex shape(
      R"(\+OK mail\.example POP3 server ready (<\d+\.\d+\.[0-9a-f]{16}@mail\.example>)\r\n)");
  for (int i = 0; i < 100; ++i) {
    Driver d(options);
    std::smatch match;
    ASSERT_TRUE(std::regex_match(d.greeting(), match, shape)) << d.greeting();
    seen.insert(match[1]);
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace postern::pop3

namespace postern::pop3 {
namespace {

SessionOptions no_plaintext_options() {
  SessionOptions options;
  options.plaintext_login_allowed = false;
  options.sasl_mechanisms = {"SCRAM-SHA-256", "CRAM-MD5"};  // what the driver offers then
  return options;
}

class NoPlaintextSaslTest : public SessionTest {
 public:
  NoPlaintextSaslTest() : SessionTest(no_plaintext_options()) {}
};

// The issue's plaintext policy: AUTH PLAIN/LOGIN on an unprotected connection get the same
// clear [AUTH] reason as USER/PASS, and are not a "bad command".
TEST_F(NoPlaintextSaslTest, PlainAndLoginAreRefusedWithTheReason) {
  for (const char* line : {"AUTH PLAIN\r\n", "AUTH LOGIN\r\n", "AUTH PLAIN AGFsaWNlAHB3\r\n"}) {
    const auto reply = d.send(line);
    EXPECT_NE(reply.find("-ERR [AUTH] Plaintext authentication disallowed"), std::string::npos)
        << line << reply;
  }
  EXPECT_TRUE(one_reply(d.send("AUTH NOSUCHMECH\r\n"), "-ERR"));
  EXPECT_EQ(d.send("AUTH NOSUCHMECH\r\n").find("[AUTH]"), std::string::npos);
}

}  // namespace
}  // namespace postern::pop3
