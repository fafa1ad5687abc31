// CAPA, the APOP timestamp and the UIDL/LIST listings as servers really send them.
#include "fetch/capabilities.hpp"

#include <gtest/gtest.h>

#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

TEST(Capabilities, ParsesTheUsualList) {
  const auto caps = parse_capabilities(
      "TOP\nUIDL\nRESP-CODES\nPIPELINING\nuser\nSASL PLAIN scram-sha-256  LOGIN\nSTLS\n"
      "IMPLEMENTATION Dovecot (Debian)\nEXPIRE NEVER\n");
  EXPECT_TRUE(caps.known);
  EXPECT_TRUE(caps.top);
  EXPECT_TRUE(caps.uidl);
  EXPECT_TRUE(caps.resp_codes);
  EXPECT_TRUE(caps.pipelining);
  EXPECT_TRUE(caps.user);
  EXPECT_TRUE(caps.stls);
  EXPECT_EQ(caps.sasl, (std::vector<std::string>{"PLAIN", "SCRAM-SHA-256", "LOGIN"}));
  EXPECT_TRUE(caps.offers_sasl("SCRAM-SHA-256"));
  EXPECT_FALSE(caps.offers_sasl("CRAM-MD5"));
  EXPECT_EQ(caps.implementation, "Dovecot (Debian)");
}

TEST(Capabilities, EmptyListKnowsNothingButThatCapaWorks) {
  const auto caps = parse_capabilities("");
  EXPECT_TRUE(caps.known);
  EXPECT_FALSE(caps.pipelining || caps.stls || caps.user || caps.top || caps.uidl);
  EXPECT_FALSE(Capabilities{}.known);
}

TEST(ApopTimestamp, FoundOnlyWhenWellFormed) {
  EXPECT_EQ(apop_timestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
            "<1896.697170952@dbc.mtview.ca.us>");
  EXPECT_EQ(apop_timestamp("ready"), std::nullopt);
  EXPECT_EQ(apop_timestamp("ready <no-at-sign>"), std::nullopt);
  EXPECT_EQ(apop_timestamp("ready <a b@c>"), std::nullopt);
  EXPECT_EQ(apop_timestamp("ready <unterminated@x"), std::nullopt);
}

TEST(Listings, UidlAndList) {
  const auto uidls = parse_uidl_listing("1 whqtswO00WBw418f9t5JxYwZ\n2 QhdPYR:00WBw1Ph7x7\n");
  ASSERT_EQ(uidls.size(), 2u);
  EXPECT_EQ(uidls[0].number, 1u);
  EXPECT_EQ(uidls[1].uidl, "QhdPYR:00WBw1Ph7x7");
  const auto list = parse_list_listing("1 120\n2 5000000000\n");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].size, 5000000000u);  // over 4 GiB: no 32-bit wrap
  EXPECT_EQ(parse_single_uidl("3 abc"), "abc");
}

TEST(Listings, BadLinesAreProtocolErrors) {
  for (const char* body : {"x abc\n", "0 abc\n", "1\n",
                           "1 a\x01"
                           "b\n",
                           "-1 abc\n"}) {
    EXPECT_THROW(parse_uidl_listing(body), FetchError) << body;
  }
  for (const char* body : {"1 12x\n", "1\n", "one 12\n"}) {
    EXPECT_THROW(parse_list_listing(body), FetchError) << body;
  }
}

TEST(Listings, UidlCharacterSet) {
  EXPECT_TRUE(is_valid_uidl("!~azAZ09"));
  EXPECT_FALSE(is_valid_uidl(""));
  EXPECT_FALSE(is_valid_uidl("a b"));
  EXPECT_FALSE(is_valid_uidl("caf\xc3\xa9"));
  EXPECT_FALSE(is_valid_uidl(std::string(513, 'a')));
}

}  // namespace
}  // namespace postern::fetch
