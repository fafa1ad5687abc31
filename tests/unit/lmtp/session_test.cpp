// lmtp::Session driven the way the network code drives it, with a fake passdb and a fake
// deliverer: every reply code of RFC 2033 / RFC 5321 the dialogue must give, one behaviour per
// test, and the per-recipient replies after DATA in RCPT order.
#include "lmtp/session.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lmtp/session_driver.hpp"

namespace postern::lmtp {
namespace {

using namespace std::string_literals;
using Codes = std::vector<std::string>;

SessionOptions named(std::string hostname = "mx.example.org") {
  SessionOptions options;
  options.hostname = std::move(hostname);
  return options;
}

// A session past LHLO.
class LmtpSessionTest : public testing::Test {
 protected:
  explicit LmtpSessionTest(SessionOptions options = named()) : d(std::move(options)) {
    d.send("LHLO relay.example.org\r\n");
  }
  Driver d;
};

// ---- greeting, LHLO and the commands outside a transaction ----

TEST(LmtpGreetingTest, GreetsWithHostname) {
  Driver d(named());
  EXPECT_EQ(d.greeting(), "220 mx.example.org LMTP postern ready\r\n");
}

TEST(LmtpGreetingTest, LhloListsTheExtensionsAndTheSizeLimit) {
  auto options = named();
  options.max_message_size = 10 << 20;
  Driver d(options);
  EXPECT_EQ(d.send("LHLO relay.example.org\r\n"),
            "250-mx.example.org\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
            "250-8BITMIME\r\n250 SIZE 10485760\r\n");
  EXPECT_EQ(d.session().client_name(), "relay.example.org");
}

TEST(LmtpGreetingTest, LhloNeedsAnArgument) {
  Driver d;
  EXPECT_EQ(codes(d.send("LHLO\r\n")), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@b>\r\n")), Codes{"503 5.5.1"});
}

TEST(LmtpGreetingTest, HeloAndEhloAreRefusedWithAPointerToLhlo) {
  Driver d;
  for (const auto* greeting : {"HELO relay\r\n", "EHLO relay\r\n", "ehlo relay\r\n"}) {
    const auto wire = d.send(greeting);
    EXPECT_EQ(codes(wire), Codes{"500 5.5.1"}) << greeting;
    EXPECT_NE(wire.find("LHLO"), std::string::npos) << wire;
  }
}

TEST(LmtpGreetingTest, MailBeforeLhloIsOutOfOrder) {
  Driver d;
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org>\r\n")), Codes{"503 5.5.1"});
}

TEST(LmtpGreetingTest, CommandsAreCaseInsensitive) {
  Driver d;
  EXPECT_EQ(codes(d.send("lhlo relay\r\nmail from:<a@example.org>\r\nrcpt to:<carol>\r\n"
                         "data\r\nhi\r\n.\r\nquit\r\n")),
            (Codes{"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"}));
  EXPECT_TRUE(d.closed());
}

TEST_F(LmtpSessionTest, NoopRsetVrfyHelp) {
  EXPECT_EQ(d.send("NOOP\r\n"), "250 2.0.0 OK\r\n");
  EXPECT_EQ(d.send("NOOP anything at all\r\n"), "250 2.0.0 OK\r\n");
  EXPECT_EQ(d.send("RSET\r\n"), "250 2.0.0 OK\r\n");
  EXPECT_EQ(codes(d.send("VRFY alice\r\n")), Codes{"252 2.5.0"});
  EXPECT_EQ(codes(d.send("HELP\r\n")), Codes{"214 2.0.0"});
}

TEST_F(LmtpSessionTest, QuitSaysGoodbyeAndCloses) {
  EXPECT_EQ(d.send("QUIT\r\nNOOP\r\n"), "221 2.0.0 mx.example.org closing connection\r\n");
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.session().close_reason(), "quit");
}

TEST_F(LmtpSessionTest, UnknownCommandsAndBadArguments) {
  EXPECT_EQ(codes(d.send("FROB\r\n")), Codes{"500 5.5.2"});
  EXPECT_EQ(codes(d.send("STARTTLS\r\n")), Codes{"500 5.5.2"});
  EXPECT_EQ(codes(d.send("\r\n")), Codes{"500 5.5.2"});
  EXPECT_EQ(codes(d.send("RSET now\r\n")), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("VRFY\r\n")), Codes{"501 5.5.4"});
}

// ---- MAIL ----

TEST_F(LmtpSessionTest, MailAcceptsAnAddressTheNullSenderAndBothBodyTypes) {
  EXPECT_EQ(d.send("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Sender <a@example.org> OK\r\n");
  d.send("RSET\r\n");
  EXPECT_EQ(d.send("MAIL FROM:<>\r\n"), "250 2.1.0 Sender <> OK\r\n");
  d.send("RSET\r\n");
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=100\r\n")),
            Codes{"250 2.1.0"});
  d.send("RSET\r\n");
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> body=7bit\r\n")), Codes{"250 2.1.0"});
}

TEST_F(LmtpSessionTest, NestedMailIsOutOfOrder) {
  d.send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(codes(d.send("MAIL FROM:<b@example.org>\r\n")), Codes{"503 5.5.1"});
}

TEST_F(LmtpSessionTest, MailSyntaxErrors) {
  EXPECT_EQ(codes(d.send("MAIL\r\n")), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("MAIL TO:<a@example.org>\r\n")), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> SIZE=ten\r\n")), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> SIZE=\r\n")), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> SIZE=1 SIZE=2\r\n")), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org\r\n")), Codes{"501 5.1.7"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a b@example.org>\r\n")), Codes{"501 5.1.7"});
}

TEST_F(LmtpSessionTest, UnsupportedParametersAre555) {
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n")), Codes{"555 5.5.4"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> SMTPUTF8\r\n")), Codes{"555 5.5.4"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> RET=HDRS\r\n")), Codes{"555 5.5.4"});
  d.send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(codes(d.send("RCPT TO:<carol> NOTIFY=NEVER\r\n")), Codes{"555 5.5.4"});
  EXPECT_TRUE(d.checks.empty());
}

TEST(LmtpSizeTest, DeclaredSizeOverTheLimitIsRefusedAndOpensNoTransaction) {
  auto options = named();
  options.max_message_size = 1000;
  Driver d(options);
  d.send("LHLO relay\r\n");
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> SIZE=1001\r\n")), Codes{"552 5.3.4"});
  EXPECT_EQ(codes(d.send("RCPT TO:<carol>\r\n")), Codes{"503 5.5.1"});
  EXPECT_EQ(codes(d.send("MAIL FROM:<a@example.org> SIZE=1000\r\n")), Codes{"250 2.1.0"});
  EXPECT_EQ(codes(d.send("RSET\r\nMAIL FROM:<a@example.org> SIZE=99999999999999999999\r\n")),
            (Codes{"250 2.0.0", "501 5.5.4"}));  // does not fit 64 bits
}

TEST_F(LmtpSessionTest, DeclaredSizeGoesToTheQuotaCheck) {
  d.send("MAIL FROM:<a@example.org> SIZE=4321\r\nRCPT TO:<carol>\r\n");
  d.send("RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\n");
  ASSERT_EQ(d.checks.size(), 2u);
  EXPECT_EQ(d.checks[0].size, 4321u);
  EXPECT_EQ(d.checks[1].size, 0u);
}

// ---- RCPT ----

TEST_F(LmtpSessionTest, RcptBeforeMailIsOutOfOrder) {
  EXPECT_EQ(codes(d.send("RCPT TO:<carol>\r\n")), Codes{"503 5.5.1"});
  EXPECT_TRUE(d.checks.empty());
}

TEST_F(LmtpSessionTest, RcptAnswersWhatTheLookupSays) {
  d.recipients["full@example.org"] = RecipientStatus::over_quota;
  d.recipients["later@example.org"] = RecipientStatus::over_quota_defer;
  d.recipients["broken@example.org"] = RecipientStatus::temporary_failure;
  d.send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(d.send("RCPT TO:<alice@example.org>\r\n"),
            "250 2.1.5 <alice@example.org> recipient OK\r\n");
  EXPECT_EQ(d.send("RCPT TO:<nobody@example.org>\r\n"),
            "550 5.1.1 <nobody@example.org> unknown user\r\n");
  EXPECT_EQ(codes(d.send("RCPT TO:<full@example.org>\r\n")), Codes{"552 5.2.2"});
  EXPECT_EQ(codes(d.send("RCPT TO:<later@example.org>\r\n")), Codes{"452 4.2.2"});
  EXPECT_EQ(codes(d.send("RCPT TO:<broken@example.org>\r\n")), Codes{"451 4.3.0"});
  ASSERT_EQ(d.checks.size(), 5u);
  EXPECT_EQ(d.checks[0].address, "alice@example.org");
}

TEST_F(LmtpSessionTest, RcptAddressForms) {
  d.recipients["\"john doe\"@example.org"] = RecipientStatus::accepted;
  d.send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(codes(d.send("RCPT TO:<carol>\r\n")), Codes{"250 2.1.5"});
  EXPECT_EQ(codes(d.send("RCPT TO:<\"john doe\"@example.org>\r\n")), Codes{"250 2.1.5"});
  EXPECT_EQ(codes(d.send("RCPT TO:<@relay.example.net:bob@example.org>\r\n")), Codes{"250 2.1.5"});
  EXPECT_EQ(codes(d.send("RCPT TO: <alice@example.org>\r\n")), Codes{"250 2.1.5"});
  EXPECT_EQ(codes(d.send("RCPT TO:<>\r\n")), Codes{"501 5.1.3"});
  EXPECT_EQ(codes(d.send("RCPT TO:<alice@>\r\n")), Codes{"501 5.1.3"});
  EXPECT_EQ(codes(d.send("RCPT alice@example.org\r\n")), Codes{"501 5.5.4"});
  std::vector<std::string> checked;
  for (const auto& check : d.checks) checked.push_back(check.address);
  EXPECT_EQ(checked, (std::vector<std::string>{"carol", "\"john doe\"@example.org",
                                               "bob@example.org", "alice@example.org"}));
}

TEST(LmtpRecipientsTest, MoreThanMaxRecipientsGet452) {
  auto options = named();
  options.max_recipients = 3;
  Driver d(options);
  d.send("LHLO relay\r\nMAIL FROM:<a@example.org>\r\n");
  d.send("RCPT TO:<nobody@example.org>\r\n");  // refused ones do not count
  EXPECT_EQ(codes(d.send("RCPT TO:<carol>\r\nRCPT TO:<alice@example.org>\r\n"
                         "RCPT TO:<bob@example.org>\r\nRCPT TO:<carol>\r\n")),
            (Codes{"250 2.1.5", "250 2.1.5", "250 2.1.5", "452 4.5.3"}));
  EXPECT_EQ(d.checks.size(), 4u);
  EXPECT_EQ(codes(d.send("DATA\r\nx\r\n.\r\n")),
            (Codes{"354", "250 2.0.0", "250 2.0.0", "250 2.0.0"}));
}

// ---- DATA and the per-recipient replies ----

TEST_F(LmtpSessionTest, DataWithoutMailOrWithoutRecipientsIsOutOfOrder) {
  EXPECT_EQ(codes(d.send("DATA\r\n")), Codes{"503 5.5.1"});
  d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@example.org>\r\n");
  EXPECT_EQ(codes(d.send("DATA\r\n")), Codes{"503 5.5.1"});
  // Still in command mode: the "message" lines are commands.
  EXPECT_EQ(codes(d.send("Subject: hi\r\n")), Codes{"500 5.5.2"});
  EXPECT_TRUE(d.deliveries.empty());
}

TEST_F(LmtpSessionTest, DataWithArgumentsIsASyntaxError) {
  d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\n");
  EXPECT_EQ(codes(d.send("DATA now\r\n")), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("DATA\r\n")), Codes{"354"});
}

TEST_F(LmtpSessionTest, OneReplyPerRecipientInRcptOrderAfterTheMessage) {
  d.outcomes["bob@example.org"] = DeliveryOutcome::over_quota;
  d.send("MAIL FROM:<sender@example.net>\r\n");
  d.send("RCPT TO:<bob@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<carol>\r\n");
  EXPECT_EQ(d.send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(d.send("Subject: hello\r\n\r\nbody\r\n.\r\n"),
            "552 5.2.2 <bob@example.org> mailbox full\r\n"
            "250 2.0.0 <carol> delivered\r\n");
  ASSERT_EQ(d.deliveries.size(), 1u);
  const auto& deliver = d.deliveries[0];
  EXPECT_EQ(deliver.sender, "sender@example.net");
  EXPECT_EQ(deliver.recipients, (std::vector<std::string>{"bob@example.org", "carol"}));
  EXPECT_EQ(deliver.message, "Subject: hello\n\nbody\n");
  EXPECT_EQ(deliver.octets, 24u);
  // Nothing about the message was said before the deliverer answered.
  EXPECT_EQ(d.output_at_delivery, std::vector<std::string>{""});
}

TEST_F(LmtpSessionTest, EveryDeliveryOutcomeHasItsReply) {
  const std::vector<std::pair<DeliveryOutcome, std::string>> table{
      {DeliveryOutcome::delivered, "250 2.0.0"},
      {DeliveryOutcome::unknown_user, "550 5.1.1"},
      {DeliveryOutcome::over_quota, "552 5.2.2"},
      {DeliveryOutcome::over_quota_defer, "452 4.2.2"},
      {DeliveryOutcome::too_large, "552 5.3.4"},
      {DeliveryOutcome::temporary_failure, "451 4.3.0"},
      {DeliveryOutcome::mailbox_unavailable, "550 5.2.0"},
      {DeliveryOutcome::failed, "554 5.3.0"},
  };
  d.send("MAIL FROM:<>\r\n");
  Codes expected;
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto address = fmt::format("user{}@example.org", i);
    d.recipients[address] = RecipientStatus::accepted;
    d.outcomes[address] = table[i].first;
    d.send(fmt::format("RCPT TO:<{}>\r\n", address));
    expected.push_back(table[i].second);
  }
  d.send("DATA\r\n");
  EXPECT_EQ(codes(d.send("x\r\n.\r\n")), expected);
  ASSERT_EQ(d.deliveries.size(), 1u);
  EXPECT_EQ(d.deliveries[0].sender, "");
}

TEST_F(LmtpSessionTest, FiftyPipelinedRecipientsSomeUnknownGetOneReplyEachInOrder) {
  std::string script = "MAIL FROM:<sender@example.net> SIZE=20\r\n";
  Codes expected{"250 2.1.0"};
  Codes after_data;
  std::vector<std::string> accepted;
  for (int i = 0; i < 50; ++i) {
    const auto address = fmt::format("user{:02}@example.org", i);
    script += fmt::format("RCPT TO:<{}>\r\n", address);
    if (i % 7 == 3) {
      expected.push_back("550 5.1.1");
      continue;
    }
    d.recipients[address] = RecipientStatus::accepted;
    expected.push_back("250 2.1.5");
    after_data.push_back("250 2.0.0");
    accepted.push_back(address);
  }
  script += "DATA\r\n";
  expected.push_back("354");
  const auto before_message = d.send(script);
  EXPECT_EQ(codes(before_message), expected);
  const auto wire = d.send("Subject: fifty\r\n\r\n.\r\nQUIT\r\n");
  after_data.push_back("221 2.0.0");
  EXPECT_EQ(codes(wire), after_data);
  // Each reply names its own recipient.
  const auto got = lines(wire);
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    EXPECT_EQ(got[i], fmt::format("250 2.0.0 <{}> delivered", accepted[i]));
  }
  ASSERT_EQ(d.deliveries.size(), 1u);
  EXPECT_EQ(d.deliveries[0].recipients, accepted);
  EXPECT_EQ(d.checks.size(), 50u);
}

TEST_F(LmtpSessionTest, EmptyMessage) {
  d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\nDATA\r\n");
  EXPECT_EQ(codes(d.send(".\r\n")), Codes{"250 2.0.0"});
  ASSERT_EQ(d.deliveries.size(), 1u);
  EXPECT_EQ(d.deliveries[0].message, "");
}

TEST_F(LmtpSessionTest, RsetMidTransactionForgetsSenderAndRecipients) {
  d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\n");
  EXPECT_EQ(codes(d.send("RSET\r\nDATA\r\nRCPT TO:<carol>\r\n")),
            (Codes{"250 2.0.0", "503 5.5.1", "503 5.5.1"}));
  d.send("MAIL FROM:<b@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nm\r\n.\r\n");
  ASSERT_EQ(d.deliveries.size(), 1u);
  EXPECT_EQ(d.deliveries[0].sender, "b@example.org");
  EXPECT_EQ(d.deliveries[0].recipients, std::vector<std::string>{"bob@example.org"});
}

TEST_F(LmtpSessionTest, LhloAgainAlsoResetsTheTransaction) {
  d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\n");
  d.send("LHLO relay\r\n");
  EXPECT_EQ(codes(d.send("DATA\r\n")), Codes{"503 5.5.1"});
}

TEST_F(LmtpSessionTest, SecondTransactionOnTheSameConnection) {
  d.send("MAIL FROM:<one@example.net>\r\nRCPT TO:<carol>\r\nDATA\r\nfirst\r\n.\r\n");
  const auto wire = d.send(
      "MAIL FROM:<two@example.net>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<carol>\r\n"
      "DATA\r\nsecond\r\n.\r\n");
  EXPECT_EQ(codes(wire),
            (Codes{"250 2.1.0", "250 2.1.5", "250 2.1.5", "354", "250 2.0.0", "250 2.0.0"}));
  ASSERT_EQ(d.deliveries.size(), 2u);
  EXPECT_EQ(d.deliveries[0].message, "first\n");
  EXPECT_EQ(d.deliveries[0].recipients, std::vector<std::string>{"carol"});
  EXPECT_EQ(d.deliveries[1].sender, "two@example.net");
  EXPECT_EQ(d.deliveries[1].message, "second\n");
  EXPECT_EQ(d.deliveries[1].recipients, (std::vector<std::string>{"alice@example.org", "carol"}));
}

TEST(LmtpSessionLogicTest, OnDeliveredWithTheWrongNumberOfOutcomesIsALogicError) {
  Session s(named());
  s.start();
  s.receive("LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<carol>\r\n");
  ASSERT_TRUE(std::holds_alternative<action::CheckRecipient>(s.next()));
  s.on_recipient(RecipientStatus::accepted);
  s.receive("DATA\r\nx\r\n.\r\n");
  ASSERT_TRUE(std::holds_alternative<action::Deliver>(s.next()));
  EXPECT_THROW(s.next(), std::logic_error);  // still waiting for the outcomes
  const std::vector<DeliveryOutcome> two{DeliveryOutcome::delivered, DeliveryOutcome::delivered};
  EXPECT_THROW(s.on_delivered(two), std::logic_error);
}

// ---- the message text ----

TEST(LmtpBodyTest, OversizeMessageIsReadToTheEndThenRefusedForEachRecipient) {
  auto options = named();
  options.max_message_size = 1024;
  Driver d(options);
  d.send(
      "LHLO relay\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\n"
      "RCPT TO:<alice@example.org>\r\nDATA\r\n");
  const std::string line(99, 'x');
  std::string wire;
  for (int i = 0; i < 100; ++i) wire += d.send(line + "\r\n");  // 10,100 octets
  EXPECT_EQ(wire, "");
  EXPECT_TRUE(d.session().reading_message());
  EXPECT_EQ(d.send(".\r\nNOOP\r\n"),
            "552 5.3.4 <carol> message too large (limit 1024 octets)\r\n"
            "552 5.3.4 <alice@example.org> message too large (limit 1024 octets)\r\n"
            "250 2.0.0 OK\r\n");
  EXPECT_TRUE(d.deliveries.empty());
  // The transaction is over; a fresh one that fits goes through.
  EXPECT_EQ(codes(d.send("RCPT TO:<carol>\r\n")), Codes{"503 5.5.1"});
  d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\nDATA\r\n");
  EXPECT_EQ(codes(d.send(std::string(1022, 'y') + "\r\n.\r\n")), Codes{"250 2.0.0"});
  ASSERT_EQ(d.deliveries.size(), 1u);
  EXPECT_EQ(d.deliveries[0].octets, 1024u);
}

TEST_F(LmtpSessionTest, BodyLinesOfAnyLengthAreFine) {
  d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\nDATA\r\n");
  const std::string long_line(100'000, 'z');
  EXPECT_EQ(codes(d.send(long_line + "\r\n.\r\n")), Codes{"250 2.0.0"});
  ASSERT_EQ(d.deliveries.size(), 1u);
  EXPECT_EQ(d.deliveries[0].message, long_line + "\n");
}

TEST_F(LmtpSessionTest, NulBytesInTheMessageAreKept) {
  d.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\nDATA\r\n");
  EXPECT_EQ(codes(d.send("a\0b\r\n\0\r\n.\r\n"s)), Codes{"250 2.0.0"});
  ASSERT_EQ(d.deliveries.size(), 1u);
  EXPECT_EQ(d.deliveries[0].message, "a\0b\n\0\n"s);
}

// The same transaction in two reads, split at every position: dot-stuffed lines, "..", a lone
// LF, a lone CR, an 8-bit line, and the end of the message in the middle of a read followed by
// the next command.
TEST(LmtpBodySplitTest, EveryTwoChunkSplitGivesTheSameResult) {
  const std::string script =
      "LHLO relay\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\nDATA\r\n"
      "Subject: dots\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nlone\nLF\r\n"
      "bare\rCR\r\n\xc3\xa9t\xc3\xa9 8-bit \xff\r\n. \r\n.\r\nNOOP\r\n";
  const std::string message =
      "Subject: dots\n\n.leading dot\n..two dots\n.\nlone\nLF\nbare\rCR\n"
      "\xc3\xa9t\xc3\xa9 8-bit \xff\n \n";
  const Codes expected{"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "250 2.0.0"};
  for (std::size_t split = 0; split <= script.size(); ++split) {
    Driver d(named());
    auto wire = d.send(script.substr(0, split));
    wire += d.send(script.substr(split));
    ASSERT_EQ(codes(wire), expected) << "split at " << split;
    ASSERT_EQ(d.deliveries.size(), 1u) << "split at " << split;
    ASSERT_EQ(d.deliveries[0].message, message) << "split at " << split;
  }
}

TEST(LmtpBodySplitTest, EveryChunkSizeGivesTheSameResult) {
  const std::string script =
      "LHLO relay\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<carol>\r\nDATA\r\n"
      "..a\r\n.\rb\r\n\r\n.\r\nMAIL FROM:<b@example.org>\r\nRCPT TO:<carol>\r\nDATA\r\n"
      "x\n.\r\ny\r\n.\n\r\n.\r\nQUIT\r\n";
  for (std::size_t chunk = 1; chunk <= script.size(); ++chunk) {
    Driver d(named());
    std::string wire;
    for (std::size_t pos = 0; pos < script.size() && !d.closed(); pos += chunk) {
      wire += d.send(script.substr(pos, chunk));
    }
    ASSERT_EQ(codes(wire), (Codes{"250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "250 2.1.0",
                                  "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"}))
        << "chunk " << chunk;
    ASSERT_EQ(d.deliveries.size(), 2u);
    EXPECT_EQ(d.deliveries[0].message, ".a\n\rb\n\n") << "chunk " << chunk;
    // "\n.\r\n" and ".\n" do not end a message: only CRLF "." CRLF does.
    EXPECT_EQ(d.deliveries[1].message, "x\n.\ny\n\n\n") << "chunk " << chunk;
  }
}

// ---- bad input ----

TEST_F(LmtpSessionTest, OverlongCommandLineIsRefusedOnceAndDiscarded) {
  EXPECT_EQ(codes(d.send(std::string(600, 'N') + "\r\nNOOP\r\n")),
            (Codes{"500 5.5.2", "250 2.0.0"}));
  // 10,000 bytes one at a time: memory stays bounded, one reply.
  std::string wire;
  for (int i = 0; i < 10'000; ++i) {
    wire += d.send("A");
    ASSERT_LE(d.session().buffered_input(), 512u);
  }
  wire += d.send("\r\nNOOP\r\n");
  EXPECT_EQ(codes(wire), (Codes{"500 5.5.2", "250 2.0.0"}));
}

TEST_F(LmtpSessionTest, CommandLineOfExactly512OctetsIsAccepted) {
  const auto line = "NOOP " + std::string(512 - 5 - 2, 'x') + "\r\n";
  ASSERT_EQ(line.size(), 512u);
  EXPECT_EQ(codes(d.send(line)), Codes{"250 2.0.0"});
  EXPECT_EQ(codes(d.send("NOOP " + std::string(512 - 5 - 1, 'x') + "\r\n")), Codes{"500 5.5.2"});
}

TEST_F(LmtpSessionTest, NulBytesInCommands) {
  EXPECT_EQ(codes(d.send("\0\0\0\r\n"s)), Codes{"500 5.5.2"});
  EXPECT_EQ(codes(d.send("NOOP \0\r\n"s)), Codes{"501 5.5.4"});
  d.send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(codes(d.send("RCPT TO:<car\0ol>\r\n"s)), Codes{"501 5.5.4"});
  EXPECT_EQ(codes(d.send("RCPT TO:<carol\r>\r\n"s)), Codes{"501 5.5.4"});
  EXPECT_TRUE(d.checks.empty());
  EXPECT_EQ(codes(d.send("RCPT TO:<carol>\r\n")), Codes{"250 2.1.5"});
}

TEST(LmtpBadCommandsTest, TooManyConsecutiveBadCommandsClose) {
  auto options = named();
  options.max_bad_commands = 3;
  Driver d(options);
  EXPECT_EQ(codes(d.send("FROB\r\nHELO x\r\n")), (Codes{"500 5.5.2", "500 5.5.1"}));
  EXPECT_FALSE(d.closed());
  EXPECT_EQ(d.send("MAIL FROM:<a@example.org>\r\nNOOP\r\n"),
            "421 4.7.0 mx.example.org Too many bad commands, closing connection\r\n");
  EXPECT_TRUE(d.closed());
  EXPECT_EQ(d.session().close_reason(), "too many bad commands");
}

TEST(LmtpBadCommandsTest, AGoodCommandEndsTheRun) {
  auto options = named();
  options.max_bad_commands = 3;
  Driver d(options);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(codes(d.send("FROB\r\nFROB\r\nNOOP\r\n")),
              (Codes{"500 5.5.2", "500 5.5.2", "250 2.0.0"}));
  }
  EXPECT_FALSE(d.closed());
}

TEST(LmtpBadCommandsTest, OverlongLinesCountAsBadCommands) {
  auto options = named();
  options.max_bad_commands = 2;
  Driver d(options);
  const auto wire = d.send(std::string(1000, 'x') + "\n" + std::string(1000, 'y') + "\n");
  EXPECT_EQ(codes(wire), (Codes{"500 5.5.2", "421 4.7.0"}));
  EXPECT_TRUE(d.closed());
}

// ---- output buffering ----

TEST(LmtpOutputTest, PipelinedRepliesAreFlushedAtTheHighWaterMarkInOrder) {
  auto options = named();
  options.output_high_water = 100;
  Driver d(options);
  std::string script = "LHLO relay\r\n";
  for (int i = 0; i < 200; ++i) script += "NOOP\r\n";
  const auto wire = d.send(script);
  auto expected = repeat(200, "250 2.0.0");
  expected.insert(expected.begin(), "250");
  EXPECT_EQ(codes(wire), expected);
  EXPECT_GT(d.flushes(), 10u);
  EXPECT_LT(d.largest_output(), 200u);
}

}  // namespace
}  // namespace postern::lmtp
