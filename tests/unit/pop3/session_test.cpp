// pop3::Session driven the way the network code drives it, with a fake maildrop and fake
// credentials: every RFC 1939 / RFC 2449 rule the dialogue must keep, one behaviour per test.
#include "pop3/session.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pop3/message_encoder.hpp"
#include "pop3/session_driver.hpp"

namespace postern::pop3 {
namespace {

using namespace std::string_literals;

// ---- greeting and CAPA ----

TEST_F(SessionTest, GreetsWithOk) {
  EXPECT_TRUE(one_reply(d.greeting(), "+OK "));
  EXPECT_EQ(d.session().state(), SessionState::authorization);
}

TEST_F(SessionTest, CapaBeforeLoginAdvertisesUserAndTheExtensions) {
  const auto caps = capabilities(d.send("CAPA\r\n"));
  for (const auto* cap : {"USER", "RESP-CODES", "PIPELINING", "TOP", "UIDL"}) {
    EXPECT_TRUE(has(caps, cap)) << cap;
  }
}

TEST_F(SessionTest, CapaAfterLoginNoLongerAdvertisesUser) {
  login();
  const auto caps = capabilities(d.send("CAPA\r\n"));
  EXPECT_FALSE(has(caps, "USER"));
  for (const auto* cap : {"RESP-CODES", "PIPELINING", "TOP", "UIDL"})
    EXPECT_TRUE(has(caps, cap)) << cap;
}

TEST(SessionOptionsTest, CapaOmitsUserWhenPlaintextLoginIsOff) {
  SessionOptions options;
  options.plaintext_login_allowed = false;
  Driver d(options);
  EXPECT_FALSE(has(capabilities(d.send("CAPA\r\n")), "USER"));
  EXPECT_TRUE(one_reply(d.send("USER alice\r\n"), "-ERR [AUTH]"));
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR [AUTH]"));
  EXPECT_TRUE(d.actions<action::Authenticate>().empty());
}

// ---- STLS (RFC 2595) and the plaintext policy ----

SessionOptions starttls_listener(bool plaintext_allowed = false) {
  SessionOptions options;
  options.starttls_offered = true;
  options.plaintext_login_allowed = plaintext_allowed;
  return options;
}

TEST(SessionStlsTest, StlsAnswersBeginNegotiationAndAsksForTheHandshake) {
  Driver d(starttls_listener());
  const auto wire = d.send("STLS\r\n");
  EXPECT_TRUE(one_reply(wire, "+OK Begin TLS negotiation"));
  EXPECT_EQ(d.actions<action::StartTls>().size(), 1u);
  EXPECT_TRUE(d.session().tls_active());
  EXPECT_EQ(d.session().state(), SessionState::authorization);
}

TEST(SessionStlsTest, InjectedCommandsAfterStlsAreDiscardedNotAnswered) {
  // CVE-2011-0411: bytes sent in the clear behind STLS must never run under TLS.
  Driver d(starttls_listener());
  const auto wire = d.send("STLS\r\nCAPA\r\nUSER alice\r\nPASS pass word\r\n");
  EXPECT_TRUE(one_reply(wire, "+OK Begin TLS negotiation"));
  EXPECT_EQ(d.wire_at_tls_start, "+OK Begin TLS negotiation\r\n");
  ASSERT_TRUE(d.buffered_at_tls_start.has_value());
  EXPECT_EQ(*d.buffered_at_tls_start, 0u);
  EXPECT_TRUE(d.actions<action::Authenticate>().empty());
  EXPECT_TRUE(one_reply(d.send("NOOP\r\n"), "-ERR"));  // still AUTHORIZATION: not logged in
}

TEST(SessionStlsTest, UserGivenBeforeStlsIsForgotten) {
  Driver d(starttls_listener(true));
  EXPECT_TRUE(one_reply(d.send("USER alice\r\n"), "+OK"));
  EXPECT_TRUE(one_reply(d.send("STLS\r\n"), "+OK"));
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::Authenticate>().empty());
}

TEST(SessionStlsTest, SecondStlsIsRefused) {
  Driver d(starttls_listener());
  d.send("STLS\r\n");
  EXPECT_TRUE(one_reply(d.send("STLS\r\n"), "-ERR"));
  EXPECT_EQ(d.actions<action::StartTls>().size(), 1u);
}

TEST(SessionStlsTest, StlsIsRefusedWhenTheListenerDoesNotOfferIt) {
  Driver d;
  EXPECT_TRUE(one_reply(d.send("STLS\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::StartTls>().empty());
  EXPECT_TRUE(one_reply(d.send("NOOP\r\n"), "-ERR"));
}

TEST(SessionStlsTest, StlsIsRefusedOnImplicitTls) {
  SessionOptions options = starttls_listener();
  options.tls_active = true;
  Driver d(options);
  EXPECT_TRUE(one_reply(d.send("STLS\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::StartTls>().empty());
}

TEST(SessionStlsTest, StlsIsRefusedInTransactionState) {
  Driver d(starttls_listener(true));
  SessionTest::add_messages(d);
  d.send("USER alice\r\nPASS pass word\r\n");
  ASSERT_EQ(d.session().state(), SessionState::transaction);
  EXPECT_TRUE(one_reply(d.send("STLS\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::StartTls>().empty());
  EXPECT_TRUE(one_reply(d.send("STAT\r\n"), "+OK"));
}

TEST(SessionStlsTest, CapaListsStlsOnlyBeforeTls) {
  Driver d(starttls_listener());
  EXPECT_TRUE(has(capabilities(d.send("CAPA\r\n")), "STLS"));
  d.send("STLS\r\n");
  EXPECT_FALSE(has(capabilities(d.send("CAPA\r\n")), "STLS"));
}

TEST(SessionStlsTest, CapaHasNoStlsWithoutAStarttlsListener) {
  Driver plain;
  EXPECT_FALSE(has(capabilities(plain.send("CAPA\r\n")), "STLS"));
  SessionOptions implicit;
  implicit.tls_active = true;
  Driver tls(implicit);
  EXPECT_FALSE(has(capabilities(tls.send("CAPA\r\n")), "STLS"));
}

struct PlaintextCase {
  std::string name;
  bool plaintext_allowed;  // allow_plaintext or a trusted peer
  bool implicit_tls;
  bool stls_first;
  bool login_allowed;
};

class PlaintextPolicyTest : public testing::TestWithParam<PlaintextCase> {};

TEST_P(PlaintextPolicyTest, UserPassFollowTheSecurityOfTheConnection) {
  const auto& c = GetParam();
  SessionOptions options = starttls_listener(c.plaintext_allowed);
  options.tls_active = c.implicit_tls;
  Driver d(options);
  SessionTest::add_messages(d);
  if (c.stls_first) d.send("STLS\r\n");
  const auto caps = capabilities(d.send("CAPA\r\n"));
  EXPECT_EQ(has(caps, "USER"), c.login_allowed);
  const auto user = d.send("USER alice\r\n");
  if (c.login_allowed) {
    EXPECT_TRUE(one_reply(user, "+OK"));
    EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "+OK"));
    EXPECT_EQ(d.session().state(), SessionState::transaction);
  } else {
    EXPECT_EQ(user,
              "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) "
              "connections\r\n");
    EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR [AUTH]"));
    EXPECT_TRUE(d.actions<action::Authenticate>().empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, PlaintextPolicyTest,
    testing::Values(PlaintextCase{"PlainRefused", false, false, false, false},
                    PlaintextCase{"PlainAllowed", true, false, false, true},
                    PlaintextCase{"AfterStls", false, false, true, true},
                    PlaintextCase{"AfterStlsAllowedAnyway", true, false, true, true},
                    PlaintextCase{"ImplicitTls", false, true, false, true},
                    PlaintextCase{"ImplicitTlsAllowedAnyway", true, true, false, true}),
    [](const auto& test) { return test.param.name; });

// ---- AUTHORIZATION ----

class BeforeLoginTest : public SessionTest, public testing::WithParamInterface<std::string> {};

TEST_P(BeforeLoginTest, TransactionCommandIsRefusedAndTheSessionGoesOn) {
  EXPECT_TRUE(one_reply(d.send(GetParam() + "\r\n"), "-ERR"));
  EXPECT_FALSE(d.closed());
  EXPECT_TRUE(d.actions<action::SendMessage>().empty());
  EXPECT_TRUE(d.actions<action::Commit>().empty());
  EXPECT_EQ(d.session().state(), SessionState::authorization);
  EXPECT_TRUE(starts_with(d.send("CAPA\r\n"), "+OK"));
}

INSTANTIATE_TEST_SUITE_P(Commands, BeforeLoginTest,
                         testing::Values("STAT", "LIST", "LIST 1", "UIDL", "UIDL 1", "RETR 1",
                                         "TOP 1 0", "DELE 1", "RSET", "NOOP"));

TEST_F(SessionTest, RightPasswordAuthenticatesThenOpensTheMaildrop) {
  const auto got = lines(d.send("USER alice\r\nPASS pass word\r\n"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(starts_with(got[0], "+OK"));
  EXPECT_TRUE(starts_with(got[1], "+OK"));
  const auto auth = d.actions<action::Authenticate>();
  ASSERT_EQ(auth.size(), 1u);
  EXPECT_EQ(auth[0].user, "alice");
  EXPECT_EQ(auth[0].password, "pass word");
  const auto open = d.actions<action::OpenMaildrop>();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].user, "alice");
  EXPECT_EQ(d.session().state(), SessionState::transaction);
  EXPECT_EQ(d.session().user(), "alice");
}

// Drives the session by hand to see the order of actions and that it waits for each answer.
TEST(SessionLoginOrderTest, AuthenticateThenOpenMaildropThenOk) {
  Session session(SessionOptions{});
  session.start();
  session.receive("USER alice\r\nPASS pass word\r\nSTAT\r\n");
  auto action = session.next();
  ASSERT_TRUE(std::holds_alternative<action::Authenticate>(action));
  EXPECT_THROW(session.next(), std::logic_error);  // still waiting for the password check
  session.output().clear();
  session.on_authenticated(true);
  action = session.next();
  ASSERT_TRUE(std::holds_alternative<action::OpenMaildrop>(action));
  EXPECT_EQ(std::get<action::OpenMaildrop>(action).user, "alice");
  EXPECT_EQ(session.output(), "");  // no +OK before the maildrop is open
  const std::vector<store::MessageInfo> messages{{"u1", 10}};
  session.on_maildrop_opened(messages);
  EXPECT_TRUE(std::holds_alternative<action::NeedInput>(session.next()));
  const auto got = lines(session.output());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(starts_with(got[0], "+OK"));
  EXPECT_EQ(got[1], "+OK 1 10");  // the pipelined STAT, answered after the login
}

TEST(SessionLoginOrderTest, NextWhileOpeningTheMaildropIsRefused) {
  Session session(SessionOptions{});
  session.start();
  session.receive("USER alice\r\nPASS pass word\r\nSTAT\r\n");
  ASSERT_TRUE(std::holds_alternative<action::Authenticate>(session.next()));
  session.on_authenticated(true);
  ASSERT_TRUE(std::holds_alternative<action::OpenMaildrop>(session.next()));
  // Like every other wait: the pipelined STAT must not run before on_maildrop_opened().
  EXPECT_THROW(session.next(), std::logic_error);
}

struct PasswordCase {
  std::string line;
  std::string password;
};

void PrintTo(const PasswordCase& c, std::ostream* out) {
  *out << testing::PrintToString(c.line);
}

class PasswordTest : public SessionTest, public testing::WithParamInterface<PasswordCase> {};

TEST_P(PasswordTest, PasswordReachesTheCheckVerbatim) {
  d.send("USER alice\r\n");
  d.send(GetParam().line + "\r\n");
  const auto auth = d.actions<action::Authenticate>();
  ASSERT_EQ(auth.size(), 1u);
  EXPECT_EQ(auth[0].password, GetParam().password);
}

INSTANTIATE_TEST_SUITE_P(Table, PasswordTest,
                         testing::Values(PasswordCase{"PASS pass word", "pass word"},
                                         PasswordCase{"PASS  leading space", " leading space"},
                                         PasswordCase{"PASS trailing space ", "trailing space "},
                                         PasswordCase{"PASS two  spaces", "two  spaces"},
                                         PasswordCase{"pass pass word", "pass word"},
                                         PasswordCase{"PASS Grüße 🙂", "Grüße 🙂"}));

TEST_F(SessionTest, WrongPasswordIsRefusedWithAuthCode) {
  EXPECT_TRUE(starts_with(d.send("USER alice\r\n"), "+OK"));
  EXPECT_TRUE(one_reply(d.send("PASS password\r\n"), "-ERR [AUTH]"));
  EXPECT_EQ(d.session().state(), SessionState::authorization);
  EXPECT_TRUE(d.actions<action::OpenMaildrop>().empty());
  EXPECT_FALSE(d.closed());
}

TEST_F(SessionTest, UnknownUserIsRefusedWithAuthCode) {
  d.send("USER bob\r\n");
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR [AUTH]"));
  EXPECT_TRUE(d.actions<action::OpenMaildrop>().empty());
}

TEST_F(SessionTest, FailedPassNeedsUserAgain) {
  d.send("USER alice\r\nPASS wrong\r\n");
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR"));
  EXPECT_EQ(d.actions<action::Authenticate>().size(), 1u);
  login();
}

TEST_F(SessionTest, TemporaryAuthFailureIsRefusedWithSysTemp) {
  d.auth_temporary_failure = true;
  d.send("USER alice\r\n");
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR [SYS/TEMP]"));
  EXPECT_EQ(d.session().state(), SessionState::authorization);
}

TEST(SessionAuthLimitTest, TooManyAuthFailuresCloseTheConnection) {
  SessionOptions options;
  options.max_auth_failures = 3;
  Driver d(options);
  for (int i = 0; i < 2; ++i) {
    d.send("USER alice\r\n");
    EXPECT_TRUE(one_reply(d.send("PASS wrong\r\n"), "-ERR [AUTH]"));
    EXPECT_FALSE(d.closed());
  }
  d.send("USER alice\r\n");
  EXPECT_TRUE(one_reply(d.send("PASS wrong\r\nCAPA\r\n"), "-ERR [AUTH]"));
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.session().state(), SessionState::closed);
}

TEST_F(SessionTest, PassWithoutUserIsRefused) {
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::Authenticate>().empty());
}

class InvalidUserNameTest : public SessionTest, public testing::WithParamInterface<std::string> {};

TEST_P(InvalidUserNameTest, NameNeverReachesTheCredentialCheck) {
  EXPECT_TRUE(one_reply(d.send("USER " + GetParam() + "\r\n"), "-ERR [AUTH]"));
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::Authenticate>().empty());
  EXPECT_TRUE(d.actions<action::OpenMaildrop>().empty());
}

INSTANTIATE_TEST_SUITE_P(Names, InvalidUserNameTest,
                         testing::Values("../x", "a/b", "x\x01", "al\0ice"s, "..", "a:b", "a b",
                                         " alice", "/etc/passwd"));

struct MaildropFailureCase {
  store::StoreErrc code;
  std::string reply;
};

class MaildropFailureTest : public SessionTest,
                            public testing::WithParamInterface<MaildropFailureCase> {};

TEST_P(MaildropFailureTest, RefusedWithTheMatchingResponseCode) {
  d.maildrop_failure = GetParam().code;
  d.send("USER alice\r\n");
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), GetParam().reply));
  EXPECT_EQ(d.session().state(), SessionState::authorization);
  EXPECT_FALSE(d.closed());
  d.maildrop_failure.reset();
  login();  // a later attempt may succeed
}

INSTANTIATE_TEST_SUITE_P(
    Codes, MaildropFailureTest,
    testing::Values(MaildropFailureCase{store::StoreErrc::in_use, "-ERR [IN-USE]"},
                    MaildropFailureCase{store::StoreErrc::temporary, "-ERR [SYS/TEMP]"},
                    MaildropFailureCase{store::StoreErrc::permanent, "-ERR [SYS/PERM]"}));

TEST_F(SessionTest, PipelinedLoginAndCommandsAreAllAnswered) {
  const auto got = lines(d.send("USER alice\r\nPASS pass word\r\nSTAT\r\nLIST 1\r\n"));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[2], "+OK 3 80");
  EXPECT_EQ(got[3], "+OK 1 28");
}

// ---- TRANSACTION: listings ----

TEST_F(SessionTest, StatCountsMessagesAndOctets) {
  login();
  EXPECT_EQ(d.send("STAT\r\n"), "+OK 3 80\r\n");
}

TEST_F(SessionTest, ListShowsEveryMessageSize) {
  login();
  const auto got = lines(d.send("LIST\r\n"));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_TRUE(starts_with(got[0], "+OK"));
  EXPECT_EQ(std::vector(got.begin() + 1, got.end()),
            (std::vector<std::string>{"1 28", "2 40", "3 12", "."}));
}

TEST_F(SessionTest, UidlShowsEveryUniqueId) {
  login();
  const auto got = lines(d.send("UIDL\r\n"));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_TRUE(starts_with(got[0], "+OK"));
  EXPECT_EQ(std::vector(got.begin() + 1, got.end()),
            (std::vector<std::string>{"1 uid-1", "2 uid-2", "3 uid-3", "."}));
}

TEST_F(SessionTest, ListAndUidlOfOneMessage) {
  login();
  EXPECT_EQ(d.send("LIST 2\r\n"), "+OK 2 40\r\n");
  EXPECT_EQ(d.send("UIDL 3\r\n"), "+OK 3 uid-3\r\n");
  EXPECT_EQ(d.send("list 1\r\n"), "+OK 1 28\r\n");
}

TEST_F(SessionTest, EmptyMaildropListsNothing) {
  Driver empty;
  empty.send("USER alice\r\nPASS pass word\r\n");
  EXPECT_EQ(empty.send("STAT\r\n"), "+OK 0 0\r\n");
  const auto got = lines(empty.send("LIST\r\nUIDL\r\n"));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[1], ".");
  EXPECT_EQ(got[3], ".");
  EXPECT_TRUE(one_reply(empty.send("RETR 1\r\n"), "-ERR"));
}

TEST(SessionLargeSizeTest, SizesAbove4GiBArePrintedExactly) {
  Driver d;
  d.add_message("big-1", "", 5'000'000'000ULL);
  d.add_message("big-2", "", 4'294'967'296ULL);
  const auto login = lines(d.send("USER alice\r\nPASS pass word\r\n"));
  ASSERT_EQ(login.size(), 2u);
  EXPECT_NE(login[1].find("9294967296"), std::string::npos) << login[1];
  EXPECT_EQ(d.send("STAT\r\n"), "+OK 2 9294967296\r\n");
  EXPECT_EQ(d.send("LIST 1\r\n"), "+OK 1 5000000000\r\n");
  const auto got = lines(d.send("LIST\r\n"));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[1], "1 5000000000");
  EXPECT_EQ(got[2], "2 4294967296");
}

// ---- TRANSACTION: bad message numbers ----

class BadMessageNumberTest : public SessionTest, public testing::WithParamInterface<std::string> {};

TEST_P(BadMessageNumberTest, RefusedAndNothingIsSentOrDeleted) {
  login();
  EXPECT_TRUE(one_reply(d.send(GetParam() + "\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::SendMessage>().empty());
  EXPECT_EQ(d.send("STAT\r\n"), "+OK 3 80\r\n");
  EXPECT_FALSE(d.closed());
}

INSTANTIATE_TEST_SUITE_P(Commands, BadMessageNumberTest,
                         testing::Values("RETR 0", "RETR 1x", "RETR 99", "RETR 4", "RETR -1",
                                         "RETR +1", "RETR", "RETR ", "RETR 1 2",
                                         "RETR 18446744073709551615", "RETR 18446744073709551616",
                                         "RETR 4294967297", "LIST 0", "LIST 4", "LIST x", "UIDL 0",
                                         "UIDL 4", "UIDL -1", "DELE 0", "DELE 4", "DELE", "DELE x",
                                         "TOP 0 1", "TOP 4 1", "TOP 1", "TOP 1 x", "TOP 1 -1",
                                         "TOP", "TOP x 1", "TOP 1 18446744073709551616"));

// ---- TRANSACTION: RETR and TOP ----

TEST_F(SessionTest, RetrSendsTheMessageDotStuffed) {
  login();
  EXPECT_EQ(d.send("RETR 3\r\n"), "+OK 12 octets\r\n..dot\r\nlast\r\n.\r\n");
  const auto sent = d.actions<action::SendMessage>();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].index, 2u);
  EXPECT_FALSE(sent[0].top_lines.has_value());
  EXPECT_EQ(d.session().stats().retrieved, 1u);
  EXPECT_EQ(d.session().stats().retrieved_octets, 12u);
}

TEST_F(SessionTest, RetrConvertsLfMessageToCrlf) {
  login();
  EXPECT_EQ(d.send("RETR 1\r\n"), "+OK 28 octets\r\nSubject: one\r\n\r\nfirst body\r\n.\r\n");
}

TEST_F(SessionTest, TopSendsHeadersAndTheRequestedLines) {
  login();
  const auto got = lines(d.send("TOP 2 1\r\n"));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_TRUE(starts_with(got[0], "+OK"));
  EXPECT_EQ(std::vector(got.begin() + 1, got.end()),
            (std::vector<std::string>{"Subject: two", "", "line 1", "."}));
  const auto sent = d.actions<action::SendMessage>();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].index, 1u);
  EXPECT_EQ(sent[0].top_lines, std::optional<std::uint64_t>(1));
}

TEST_F(SessionTest, TopZeroSendsOnlyTheHeaders) {
  login();
  const auto got = lines(d.send("TOP 1 0\r\n"));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(std::vector(got.begin() + 1, got.end()),
            (std::vector<std::string>{"Subject: one", "", "."}));
  EXPECT_EQ(d.actions<action::SendMessage>().at(0).top_lines, std::optional<std::uint64_t>(0));
}

class UnavailableMessageTest : public SessionTest,
                               public testing::WithParamInterface<MaildropFailureCase> {};

TEST_P(UnavailableMessageTest, RefusedWithTheMatchingCodeAndTheSessionGoesOn) {
  login();
  d.message_failure = GetParam().code;
  EXPECT_TRUE(one_reply(d.send("RETR 1\r\n"), GetParam().reply));
  EXPECT_TRUE(one_reply(d.send("TOP 1 0\r\n"), GetParam().reply));
  EXPECT_EQ(d.send("NOOP\r\n"), "+OK\r\n");
  EXPECT_EQ(d.session().stats().retrieved, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, UnavailableMessageTest,
    testing::Values(MaildropFailureCase{store::StoreErrc::temporary, "-ERR [SYS/TEMP]"},
                    MaildropFailureCase{store::StoreErrc::permanent, "-ERR [SYS/PERM]"}));

// ---- TRANSACTION: DELE and RSET ----

TEST_F(SessionTest, DeletedMessageDisappearsFromStatListAndUidl) {
  login();
  EXPECT_TRUE(one_reply(d.send("DELE 2\r\n"), "+OK"));
  EXPECT_EQ(d.send("STAT\r\n"), "+OK 2 40\r\n");
  auto got = lines(d.send("LIST\r\n"));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(std::vector(got.begin() + 1, got.end()),
            (std::vector<std::string>{"1 28", "3 12", "."}));
  got = lines(d.send("UIDL\r\n"));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(std::vector(got.begin() + 1, got.end()),
            (std::vector<std::string>{"1 uid-1", "3 uid-3", "."}));
}

TEST_F(SessionTest, DeletedMessageCannotBeReachedByNumber) {
  login();
  d.send("DELE 2\r\n");
  for (const auto* command : {"LIST 2", "UIDL 2", "RETR 2", "TOP 2 0", "DELE 2"}) {
    EXPECT_TRUE(one_reply(d.send(command + "\r\n"s), "-ERR")) << command;
  }
  EXPECT_TRUE(d.actions<action::SendMessage>().empty());
  EXPECT_EQ(d.send("LIST 3\r\n"), "+OK 3 12\r\n");  // the others keep their numbers
}

TEST_F(SessionTest, RsetBringsDeletedMessagesBack) {
  login();
  d.send("DELE 1\r\nDELE 3\r\n");
  EXPECT_TRUE(one_reply(d.send("RSET\r\n"), "+OK"));
  EXPECT_EQ(d.send("STAT\r\n"), "+OK 3 80\r\n");
  EXPECT_EQ(d.send("LIST 1\r\n"), "+OK 1 28\r\n");
  EXPECT_TRUE(one_reply(d.send("QUIT\r\n"), "+OK"));
  EXPECT_TRUE(d.actions<action::Commit>().empty());
}

// ---- QUIT and UPDATE ----

TEST_F(SessionTest, QuitWithoutDeletionsClosesWithoutCommit) {
  login();
  EXPECT_TRUE(one_reply(d.send("QUIT\r\n"), "+OK"));
  EXPECT_TRUE(d.closed());
  EXPECT_TRUE(d.actions<action::Commit>().empty());
  EXPECT_EQ(d.session().close_reason(), "quit");
}

TEST_F(SessionTest, QuitCommitsExactlyTheDeletedMessages) {
  login();
  d.send("DELE 3\r\nDELE 1\r\n");
  EXPECT_TRUE(one_reply(d.send("QUIT\r\n"), "+OK"));
  const auto commits = d.actions<action::Commit>();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].deletions, (std::vector<std::size_t>{0, 2}));
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.session().stats().deleted, 2u);
}

TEST_F(SessionTest, QuitWaitsInUpdateStateForTheCommit) {
  login();
  d.session().receive("DELE 1\r\nQUIT\r\n");
  auto action = d.session().next();
  ASSERT_TRUE(std::holds_alternative<action::Commit>(action));
  EXPECT_EQ(d.session().state(), SessionState::update);
  EXPECT_THROW(d.session().next(), std::logic_error);
  d.session().output().clear();
  d.session().on_committed(std::nullopt);
  EXPECT_TRUE(one_reply(d.session().output(), "+OK"));
  EXPECT_TRUE(std::holds_alternative<action::Close>(d.session().next()));
}

TEST_F(SessionTest, FailedCommitIsReportedAndTheSessionCloses) {
  login();
  d.commit_failure = store::StoreErrc::temporary;
  d.send("DELE 1\r\n");
  EXPECT_TRUE(one_reply(d.send("QUIT\r\n"), "-ERR [SYS/TEMP]"));
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.session().stats().deleted, 0u);
}

TEST_F(SessionTest, QuitBeforeLoginClosesWithoutCommit) {
  EXPECT_TRUE(one_reply(d.send("QUIT\r\n"), "+OK"));
  EXPECT_TRUE(d.closed());
  EXPECT_TRUE(d.actions<action::Commit>().empty());
}

TEST_F(SessionTest, NextAfterCloseKeepsReturningClose) {
  d.send("QUIT\r\n");
  ASSERT_TRUE(d.closed());
  d.session().receive("CAPA\r\nUSER alice\r\n");
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::holds_alternative<action::Close>(d.session().next()));
  }
  EXPECT_EQ(d.session().output(), "");
}

// ---- bad commands ----

TEST(SessionBadCommandTest, TooManyConsecutiveBadCommandsCloseTheConnection) {
  SessionOptions options;
  options.max_bad_commands = 3;
  Driver d(options);
  const auto got = lines(d.send("XYZZY\r\nNOOP\r\nAPOP a b\r\nCAPA\r\n"));
  ASSERT_EQ(got.size(), 3u);  // CAPA never runs
  for (const auto& line : got) EXPECT_TRUE(starts_with(line, "-ERR"));
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.session().close_reason(), "too many bad commands");
}

TEST(SessionBadCommandTest, GoodCommandsResetTheCount) {
  SessionOptions options;
  options.max_bad_commands = 3;
  Driver d(options);
  for (int i = 0; i < 5; ++i) d.send("XYZZY\r\nXYZZY\r\nCAPA\r\n");
  EXPECT_FALSE(d.closed());
  d.add_message("u", "x\n", 3);
  d.send("USER alice\r\nPASS pass word\r\n");
  for (int i = 0; i < 5; ++i) d.send("XYZZY\r\nRETR x\r\nNOOP\r\n");
  EXPECT_FALSE(d.closed());
  EXPECT_EQ(d.send("STAT\r\n"), "+OK 1 3\r\n");
}

TEST(SessionBadCommandTest, BadMessageNumbersCountAsBadCommands) {
  SessionOptions options;
  options.max_bad_commands = 2;
  Driver d(options);
  d.add_message("u", "x\n", 3);
  d.send("USER alice\r\nPASS pass word\r\n");
  const auto got = lines(d.send("RETR x\r\nLIST -1\r\nSTAT\r\n"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(d.closed());
}

TEST_F(SessionTest, OverlongLineIsRefusedAndTheNextCommandWorks) {
  login();
  EXPECT_EQ(d.send(std::string(10'000, 'A') + "\r\nNOOP\r\n"), "-ERR Line too long\r\n+OK\r\n");
}

TEST_F(SessionTest, OverlongLineInManyReadsIsRefusedOnce) {
  login();
  std::string wire;
  for (int i = 0; i < 10; ++i) wire += d.send(std::string(1000, 'A'));
  wire += d.send("\r\nSTAT\r\n");
  EXPECT_EQ(wire, "-ERR Line too long\r\n+OK 3 80\r\n");
}

TEST_F(SessionTest, OverlongUserNameIsRefused) {
  EXPECT_TRUE(one_reply(d.send("USER " + std::string(300, 'a') + "\r\n"), "-ERR"));
  EXPECT_TRUE(one_reply(d.send("PASS pass word\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::Authenticate>().empty());
}

class NulByteTest : public SessionTest, public testing::WithParamInterface<std::string> {};

TEST_P(NulByteTest, CommandWithNulIsRefusedWithoutHarm) {
  login();
  EXPECT_TRUE(one_reply(d.send(GetParam() + "\r\n"), "-ERR"));
  EXPECT_TRUE(d.actions<action::SendMessage>().empty());
  EXPECT_EQ(d.send("STAT\r\n"), "+OK 3 80\r\n");
}

INSTANTIATE_TEST_SUITE_P(Lines, NulByteTest,
                         testing::Values("\0"s, "ST\0T"s, "STAT\0"s, "RETR 1\0"s, "RETR \0"s + "1",
                                         "LIST \0"s, "DELE 1\0"s, "TOP 1 \0"s + "0"));

// ---- pipelining and flow control ----

TEST(SessionPipeliningTest, ThousandCommandsInOneReadAreAnsweredInOrder) {
  SessionOptions options;
  options.output_high_water = 512;
  Driver d(options);
  d.add_message("a", "1\n", 3);
  d.add_message("b", "22\n", 4);
  d.add_message("c", "333\n", 5);
  d.send("USER alice\r\nPASS pass word\r\n");
  std::string commands;
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    const int n = i % 3 + 1;
    commands += fmt::format("LIST {}\r\n", n);
    expected += fmt::format("+OK {} {}\r\n", n, n + 2);
  }
  EXPECT_EQ(d.send(commands), expected);
  EXPECT_GT(d.flushes(), 0u);
  EXPECT_LE(d.largest_output(), options.output_high_water + std::string("+OK 1 3\r\n").size());
}

TEST(SessionPipeliningTest, HundredThousandCommandsKeepOutputBounded) {
  const SessionOptions options;
  Driver d(options);
  d.add_message("a", "1\n", 3);
  d.send("USER alice\r\nPASS pass word\r\n");
  std::string commands;
  for (int i = 0; i < 100'000; ++i) commands += i % 2 == 0 ? "STAT\r\n" : "NOOP\r\n";
  std::string wire;
  for (std::size_t pos = 0; pos < commands.size(); pos += 4096) {  // reads as the server does
    wire += d.send(std::string_view(commands).substr(pos, 4096));
  }
  std::string expected;
  for (int i = 0; i < 100'000; ++i) expected += i % 2 == 0 ? "+OK 1 3\r\n" : "+OK\r\n";
  EXPECT_EQ(wire, expected);
  EXPECT_LE(d.largest_output(), options.output_high_water + std::string("+OK 1 3\r\n").size());
}

struct ListingCase {
  std::string name;
  std::string command;
};

void PrintTo(const ListingCase& c, std::ostream* out) {
  *out << c.name;
}

class LongListingTest : public testing::TestWithParam<ListingCase> {};

TEST_P(LongListingTest, HundredThousandMessagesArriveCompleteThroughFlushes) {
  constexpr std::size_t count = 100'000;
  const SessionOptions options;
  Driver d(options);
  for (std::size_t i = 0; i < count; ++i) d.add_message(fmt::format("uid-{}", i), "", i * 1000 + 7);
  d.send("USER alice\r\nPASS pass word\r\n");
  const bool list = GetParam().command == "LIST";
  std::string expected;
  std::size_t longest = 0;
  for (std::size_t i = 0; i < count; ++i) {
    auto line = list ? fmt::format("{} {}\r\n", i + 1, i * 1000 + 7)
                     : fmt::format("{} uid-{}\r\n", i + 1, i);
    longest = std::max(longest, line.size());
    expected += line;
  }
  expected += ".\r\n";
  const auto wire = d.send(GetParam().command + "\r\nNOOP\r\n");
  const auto first_end = wire.find("\r\n") + 2;
  EXPECT_TRUE(starts_with(wire, "+OK"));
  EXPECT_EQ(wire.substr(first_end), expected + "+OK\r\n");
  EXPECT_GE(d.flushes(), 2u);
  EXPECT_LE(d.largest_output(), options.output_high_water + longest);
}

INSTANTIATE_TEST_SUITE_P(Commands, LongListingTest,
                         testing::Values(ListingCase{"List", "LIST"}, ListingCase{"Uidl", "UIDL"}),
                         [](const auto& test) { return test.param.name; });

}  // namespace
}  // namespace postern::pop3
