// The one-shot URL: a contract outside tooling relies on, so every form is pinned here.
#include "fetch/url.hpp"

#include <gtest/gtest.h>

namespace postern::fetch {
namespace {

TEST(FetchUrl, Forms) {
  auto u = parse_fetch_url("pop3s://alice@mail.example.org");
  EXPECT_TRUE(u.implicit_tls);
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.host, "mail.example.org");
  EXPECT_EQ(u.port, 995);

  u = parse_fetch_url("pop3://bob@mail.example.org:1110/");
  EXPECT_FALSE(u.implicit_tls);
  EXPECT_EQ(u.port, 1110);

  u = parse_fetch_url("POP3://bob@10.0.0.1");
  EXPECT_FALSE(u.implicit_tls);
  EXPECT_EQ(u.port, 110);

  u = parse_fetch_url("pop3s://alice%40example.org@[::1]:9950");
  EXPECT_EQ(u.user, "alice@example.org");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 9950);

  u = parse_fetch_url("pop3s://a%2fb%25c@h");
  EXPECT_EQ(u.user, "a/b%c");
}

TEST(FetchUrl, RefusedForms) {
  for (const char* bad : {"imap://alice@host", "alice@host", "pop3s://host", "pop3s://@host",
                          "pop3s://alice:secret@host", "pop3s://alice@", "pop3s://alice@host:0",
                          "pop3s://alice@host:65536", "pop3s://alice@host:99x",
                          "pop3s://alice@host:", "pop3s://alice@[::1", "pop3s://alice@[::1]x",
                          "pop3s://al%4@host", "pop3s://al%zzce@host", "pop3s://al%0d%0aQUIT@host",
                          "pop3s://alice@host/INBOX", "pop3s://alice@host?x=1"}) {
    EXPECT_THROW(parse_fetch_url(bad), std::invalid_argument) << bad;
  }
}

TEST(FetchUrl, PasswordInUrlPointsToTheSafeWays) {
  try {
    parse_fetch_url("pop3s://alice:pw@host");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--password-file"), std::string::npos);
  }
}

TEST(FetchUrl, HostPort) {
  EXPECT_EQ(host_port("mail.example.org", 995), "mail.example.org:995");
  EXPECT_EQ(host_port("::1", 110), "[::1]:110");
}

}  // namespace
}  // namespace postern::fetch
