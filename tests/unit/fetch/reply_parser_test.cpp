// The reply parser fed the same server bytes at every chunk size and split position: the events
// must not depend on how the network cut the stream (the Stalwart parser test, client side).
#include "fetch/reply_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

// Events flattened to text: "S+|code|text", "C|text", "D|bytes" (adjacent data merged), "E".
std::vector<std::string> run(const std::vector<ReplyKind>& kinds, std::string_view wire,
                             std::size_t chunk) {
  ReplyParser parser;
  for (auto k : kinds) parser.expect(k);
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    ReplyEvent event = parser.next();
    if (std::holds_alternative<NeedMore>(event)) {
      if (pos >= wire.size()) break;
      const auto n = std::min(chunk, wire.size() - pos);
      parser.feed(wire.substr(pos, n));
      pos += n;
      continue;
    }
    if (auto* s = std::get_if<StatusLine>(&event)) {
      out.push_back(std::string(s->ok ? "S+" : "S-") + "|" + s->code + "|" + s->text);
    } else if (auto* c = std::get_if<Continuation>(&event)) {
      out.push_back("C|" + c->text);
    } else if (auto* d = std::get_if<BodyData>(&event)) {
      EXPECT_FALSE(d->bytes.empty());
      if (!out.empty() && out.back().starts_with("D|")) {
        out.back() += std::string(d->bytes);
      } else {
        out.push_back("D|" + std::string(d->bytes));
      }
    } else if (std::holds_alternative<BodyEnd>(event)) {
      out.push_back("E");
    }
  }
  EXPECT_EQ(parser.pending(), 0u) << "chunk " << chunk;
  return out;
}

void expect_same_at_every_chunk(const std::vector<ReplyKind>& kinds, std::string_view wire,
                                const std::vector<std::string>& expected) {
  for (std::size_t chunk = 1; chunk <= wire.size() + 1; ++chunk) {
    EXPECT_EQ(run(kinds, wire, chunk), expected) << "chunk size " << chunk;
  }
}

TEST(ReplyParser, StatusLinesWithAndWithoutCodes) {
  expect_same_at_every_chunk(
      {ReplyKind::single, ReplyKind::single, ReplyKind::single, ReplyKind::single},
      "+OK\r\n-ERR [SYS/TEMP] try later\r\n+OK 2 messages\r\n-ERR\r\n",
      {"S+||", "S-|SYS/TEMP|try later", "S+||2 messages", "S-||"});
}

TEST(ReplyParser, MultilineBodyIsUnstuffedWithLfLineEnds) {
  const std::string wire =
      "+OK 5 octets\r\n"
      "Subject: x\r\n"
      "\r\n"
      "..leading dot\r\n"
      "...two\r\n"
      "bare\rcr inside\r\n"
      "..\r\n"
      ".\r\n"
      "-ERR no such message\r\n"
      "+OK\r\n"
      ".\r\n";
  expect_same_at_every_chunk(
      {ReplyKind::multiline, ReplyKind::multiline, ReplyKind::multiline}, wire,
      {"S+||5 octets", "D|Subject: x\n\n.leading dot\n..two\nbare\rcr inside\n.\n", "E",
       "S-||no such message", "S+||", "E"});
}

TEST(ReplyParser, BareLfLineEndsAreAcceptedFromBrokenServers) {
  expect_same_at_every_chunk({ReplyKind::multiline}, "+OK\nline one\nline two\r\n.\n",
                             {"S+||", "D|line one\nline two\n", "E"});
}

TEST(ReplyParser, SaslContinuationsKeepTheReplyOpen) {
  ReplyParser parser;
  parser.expect(ReplyKind::sasl);
  parser.feed("+ cj1hYmM=\r\n");
  auto first = parser.next();
  ASSERT_TRUE(std::holds_alternative<Continuation>(first));
  EXPECT_EQ(std::get<Continuation>(first).text, "cj1hYmM=");
  EXPECT_EQ(parser.pending(), 1u);
  parser.feed("+\r\n+OK welcome\r\n");
  auto empty = parser.next();
  ASSERT_TRUE(std::holds_alternative<Continuation>(empty));
  EXPECT_EQ(std::get<Continuation>(empty).text, "");
  auto done = parser.next();
  ASSERT_TRUE(std::holds_alternative<StatusLine>(done));
  EXPECT_TRUE(std::get<StatusLine>(done).ok);
  EXPECT_EQ(parser.pending(), 0u);
}

TEST(ReplyParser, PlusWithoutSpaceIsNotAContinuationOutsideAuth) {
  ReplyParser parser;
  parser.expect(ReplyKind::single);
  parser.feed("+ hello\r\n");
  EXPECT_THROW(parser.next(), FetchError);
}

TEST(ReplyParser, GarbageStatusLinesAreProtocolErrors) {
  for (const char* wire : {"OK fine\r\n", "+OKAY\r\n", "-ERROR\r\n", "\r\n", "* OK imap\r\n"}) {
    ReplyParser parser;
    parser.expect(ReplyKind::single);
    parser.feed(wire);
    EXPECT_THROW(parser.next(), FetchError) << wire;
  }
}

TEST(ReplyParser, UnrequestedDataIsAProtocolError) {
  ReplyParser parser;
  parser.feed("+OK surprise\r\n");
  EXPECT_THROW(parser.next(), FetchError);
}

TEST(ReplyParser, OverlongStatusLineIsRefusedWithoutWaitingForever) {
  ReplyParser parser;
  parser.expect(ReplyKind::single);
  parser.feed("+OK " + std::string(ReplyParser::max_line + 10, 'x'));
  EXPECT_THROW(parser.next(), FetchError);
}

TEST(ReplyParser, LongBodyLinesComeOutInPiecesWithoutALineEnd) {
  // A 1 MB line without CRLF must not be held whole before it is handed out.
  ReplyParser parser;
  parser.expect(ReplyKind::multiline);
  parser.feed("+OK\r\n");
  ASSERT_TRUE(std::holds_alternative<StatusLine>(parser.next()));
  std::size_t out = 0;
  for (int i = 0; i < 16; ++i) {
    parser.feed(std::string(64 * 1024, 'a'));
    while (true) {
      auto event = parser.next();
      if (std::holds_alternative<NeedMore>(event)) break;
      out += std::get<BodyData>(event).bytes.size();
    }
    EXPECT_EQ(out, static_cast<std::size_t>(i + 1) * 64 * 1024);
  }
}

TEST(ReplyParser, TrailingCrIsHeldUntilTheNextByte) {
  ReplyParser parser;
  parser.expect(ReplyKind::multiline);
  parser.feed("+OK\r\nabc\r");
  ASSERT_TRUE(std::holds_alternative<StatusLine>(parser.next()));
  auto data = parser.next();
  ASSERT_TRUE(std::holds_alternative<BodyData>(data));
  EXPECT_EQ(std::get<BodyData>(data).bytes, "abc");
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
  parser.feed("\n.\r\n");
  data = parser.next();
  ASSERT_TRUE(std::holds_alternative<BodyData>(data));
  EXPECT_EQ(std::get<BodyData>(data).bytes, "\n");
  EXPECT_TRUE(std::holds_alternative<BodyEnd>(parser.next()));
}

TEST(ReplyParser, DiscardInputDropsWhatCameBeforeTheHandshake) {
  ReplyParser parser;
  parser.expect(ReplyKind::single);
  parser.feed("+OK begin TLS\r\n+OK injected\r\n");
  ASSERT_TRUE(std::holds_alternative<StatusLine>(parser.next()));
  EXPECT_EQ(parser.discard_input(), std::string_view("+OK injected\r\n").size());
  EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
}

TEST(ReplyParser, CountsConsumedOctets) {
  ReplyParser parser;
  parser.expect(ReplyKind::multiline);
  const std::string wire = "+OK\r\nab\r\n..c\r\n.\r\n";
  parser.feed(wire);
  while (!std::holds_alternative<NeedMore>(parser.next())) {
  }
  EXPECT_EQ(parser.consumed(), wire.size());
}

}  // namespace
}  // namespace postern::fetch
