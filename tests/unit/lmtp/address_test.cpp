// parse_path_argument: the MAIL FROM / RCPT TO argument forms accepted and refused, table-driven.
#include "lmtp/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postern::lmtp {
namespace {

using namespace std::string_literals;

struct Accepted {
  std::string args;
  std::string address;
};

TEST(LmtpAddressTest, AcceptedForms) {
  const std::vector<Accepted> table{
      {"TO:<alice@example.org>", "alice@example.org"},
      {"to:<alice@example.org>", "alice@example.org"},
      {"TO: <alice@example.org>", "alice@example.org"},
      {"TO:alice@example.org", "alice@example.org"},
      {"TO:<alice>", "alice"},
      {"TO:alice", "alice"},
      {"TO:<Alice.Smith+tag@Example.ORG>", "Alice.Smith+tag@Example.ORG"},
      {"TO:<\"john doe\"@example.org>", "\"john doe\"@example.org"},
      {"TO:<\"a\\\"b>c\"@example.org>", "\"a\\\"b>c\"@example.org"},
      {"TO:<alice@[192.0.2.1]>", "alice@[192.0.2.1]"},
      {"TO:<alice@[IPv6:2001:db8::1]>", "alice@[IPv6:2001:db8::1]"},
      {"TO:<@relay.example.net,@other.example.net:bob@example.org>", "bob@example.org"},
      {"TO:<j\xc3\xb6rg@b\xc3\xbc"
       "cher.example>",
       "j\xc3\xb6rg@b\xc3\xbc"
       "cher.example"},
      {"TO:<o'brien@example.org>", "o'brien@example.org"},
  };
  for (const auto& row : table) {
    const auto result = parse_path_argument(row.args, "TO:");
    const auto* path = std::get_if<PathArgument>(&result);
    ASSERT_NE(path, nullptr) << row.args << ": " << std::get<PathError>(result).text;
    EXPECT_EQ(path->address, row.address) << row.args;
    EXPECT_FALSE(path->null_path) << row.args;
    EXPECT_TRUE(path->parameters.empty()) << row.args;
  }
}

TEST(LmtpAddressTest, NullPathAndParameters) {
  const auto result = parse_path_argument("FROM:<> SIZE=100  body=8bitmime FLAG", "FROM:");
  const auto* path = std::get_if<PathArgument>(&result);
  ASSERT_NE(path, nullptr);
  EXPECT_TRUE(path->null_path);
  EXPECT_EQ(path->address, "");
  ASSERT_EQ(path->parameters.size(), 3u);
  EXPECT_EQ(path->parameters[0].keyword, "SIZE");
  EXPECT_EQ(path->parameters[0].value, "100");
  EXPECT_EQ(path->parameters[1].keyword, "BODY");
  EXPECT_EQ(path->parameters[1].value, "8bitmime");
  EXPECT_EQ(path->parameters[2].keyword, "FLAG");
  EXPECT_FALSE(path->parameters[2].has_value);
}

struct Refused {
  std::string args;
  PathErrc code;
};

TEST(LmtpAddressTest, RefusedForms) {
  const std::vector<Refused> table{
      {"", PathErrc::syntax},
      {"TO", PathErrc::syntax},
      {"TO:", PathErrc::syntax},
      {"FROM:<alice@example.org>", PathErrc::syntax},
      {"TO:<alice@example.org> SIZE=", PathErrc::syntax},
      {"TO:<alice@example.org> =1", PathErrc::syntax},
      {"TO:<alice@example.org> A=1 A=2", PathErrc::syntax},
      {"TO:<alice@example.org", PathErrc::address},
      {"TO:<alice@example.org>x", PathErrc::address},
      {"TO:<alice@>", PathErrc::address},
      {"TO:<@example.org>", PathErrc::address},
      {"TO:<a b@example.org>", PathErrc::address},
      {"TO:<\"unterminated@example.org>", PathErrc::address},
      {"TO:<alice@exa mple.org>", PathErrc::address},
      {"TO:<alice@[192.0.2.1>", PathErrc::address},
      {"TO:<alice@example.org\r>", PathErrc::address},
      {"TO:<ali\nce@example.org>", PathErrc::address},
      {"TO:<ali\0ce@example.org>"s, PathErrc::address},
      {"TO:<\"a\0b\"@example.org>"s, PathErrc::address},
      {"TO:<<alice@example.org>>", PathErrc::address},
      {"TO:<alice@example.org@other>", PathErrc::address},
      {"TO:<@relay.example.net>", PathErrc::address},
  };
  for (const auto& row : table) {
    const auto result = parse_path_argument(row.args, "TO:");
    const auto* error = std::get_if<PathError>(&result);
    ASSERT_NE(error, nullptr) << testing::PrintToString(row.args) << " was accepted as "
                              << std::get<PathArgument>(result).address;
    EXPECT_EQ(error->code, row.code) << testing::PrintToString(row.args);
    EXPECT_FALSE(error->text.empty());
  }
}

}  // namespace
}  // namespace postern::lmtp
