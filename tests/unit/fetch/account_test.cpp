// fetch.toml: defaults, every key, and a FILE:LINE error for every mistake a person makes.
#include "fetch/account.hpp"

#include <gtest/gtest.h>

#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

AccountEnvironment env() {
  AccountEnvironment e;
  e.home = "/home/u";
  e.state_home = "/home/u/.local/state";
  e.config_home = "/home/u/.config";
  return e;
}

std::vector<Account> parse(std::string_view text) {
  return parse_accounts(text, "/home/u/.config/postern/fetch.toml", env());
}

// The FetchError message for text, which must fail with a config error.
std::string error_of(std::string_view text) {
  try {
    parse(text);
  } catch (const FetchError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return {};
}

constexpr std::string_view minimal = R"(
[[account]]
host = "mail.example.org"
user = "alice"
password_command = "pass show mail"
)";

TEST(Accounts, Defaults) {
  const auto accounts = parse(minimal);
  ASSERT_EQ(accounts.size(), 1u);
  const Account& a = accounts[0];
  EXPECT_EQ(a.name, "alice@mail.example.org:995");
  EXPECT_EQ(a.port, 995);
  EXPECT_EQ(a.tls, TlsMode::implicit);
  EXPECT_EQ(a.mode, RemoteMode::keep);
  EXPECT_EQ(a.deliver, DeliverTo::maildir);
  EXPECT_EQ(a.deliver_path, "/home/u/Maildir");
  EXPECT_EQ(a.state_dir, "/home/u/.local/state/postern/fetch/alice@mail.example.org:995");
  EXPECT_EQ(a.password.kind, PasswordSource::Kind::command);
  EXPECT_EQ(a.password.value, "pass show mail");
  EXPECT_FALSE(a.insecure);
  EXPECT_FALSE(a.max_size);
  EXPECT_EQ(a.label(), "alice@mail.example.org");
}

TEST(Accounts, EveryKey) {
  const auto accounts = parse(R"(
[[account]]
name = "work"
host = "pop.example.com"
port = 1110
tls = "starttls"
user = "bob@example.com"
password_file = "~/.secrets/work"
tls_fingerprint = "sha256:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
tls_ca_file = "~/ca.pem"
mode = "keep"
keep_days = 14
max_size = "10M"
oversize = "headers"
mbox = "~/mail/inbox"
state_dir = "/var/tmp/state"
timeout = 30

[[account]]
host = "10.0.0.1"
tls = "none"
allow_plaintext = true
user = "carol"
password_env = "CAROL_PW"
mode = "delete"
mda = "procmail -d carol"
max_size = 1000
)");
  ASSERT_EQ(accounts.size(), 2u);
  const Account& w = accounts[0];
  EXPECT_EQ(w.name, "work");
  EXPECT_EQ(w.port, 1110);
  EXPECT_EQ(w.tls, TlsMode::starttls);
  EXPECT_EQ(w.password.kind, PasswordSource::Kind::file);
  EXPECT_EQ(w.password.value, "/home/u/.secrets/work");
  ASSERT_TRUE(w.tls_fingerprint);
  EXPECT_EQ(w.tls_fingerprint->size(), 32u);
  EXPECT_EQ(w.tls_ca_file, "/home/u/ca.pem");
  EXPECT_EQ(w.keep_days, 14u);
  EXPECT_EQ(w.max_size, 10u * 1024 * 1024);
  EXPECT_EQ(w.oversize, Oversize::headers);
  EXPECT_EQ(w.deliver, DeliverTo::mbox);
  EXPECT_EQ(w.deliver_path, "/home/u/mail/inbox");
  EXPECT_EQ(w.state_dir, "/var/tmp/state");
  EXPECT_EQ(w.timeout, std::chrono::seconds(30));
  const Account& c = accounts[1];
  EXPECT_EQ(c.port, 110);
  EXPECT_EQ(c.tls, TlsMode::none);
  EXPECT_TRUE(c.allow_plaintext);
  EXPECT_EQ(c.mode, RemoteMode::remove);
  EXPECT_EQ(c.deliver, DeliverTo::mda);
  EXPECT_EQ(c.mda_command, "procmail -d carol");
  EXPECT_EQ(c.password.kind, PasswordSource::Kind::env);
  EXPECT_EQ(c.max_size, 1000u);
}

TEST(Accounts, ErrorsNameFileLineAndKey) {
  struct Case {
    std::string text;
    std::string expected;  // a part of the message
  };
  const std::string base = std::string(minimal);
  const std::vector<Case> cases = {
      {base + "colour = \"blue\"\n", "fetch.toml:6: key 'account.colour': unknown setting"},
      {base + "password = \"hunter2\"\n",
       "fetch.toml:6: key 'account.password': a password is never stored"},
      {base + "password_file = \"/x\"\n", "set only one of password_command"},
      {"[[account]]\nhost = \"h\"\nuser = \"u\"\n", "missing: set one of password_command"},
      {"[[account]]\nuser = \"u\"\npassword_env = \"X\"\n", "key 'account.host': missing"},
      {"[[account]]\nhost = \"h\"\npassword_env = \"X\"\n", "key 'account.user': missing"},
      {base + "tls = \"ssl\"\n", "fetch.toml:6: key 'account.tls': \"ssl\" is not one of"},
      {base + "allow_plaintext = true\n", "only means something with tls = \"none\""},
      {base + "tls_fingerprint = \"abcd\"\n", "key 'account.tls_fingerprint': expected"},
      {base + "insecure = true\ntls_ca_file = \"/ca\"\n", "conflicts with insecure"},
      {base + "mode = \"move\"\n", "key 'account.mode'"},
      {base + "mode = \"delete\"\nkeep_days = 3\n", "needs mode = \"keep\""},
      {base + "keep_days = 0\n", "out of range"},
      {base + "max_size = \"ten\"\n", "key 'account.max_size'"},
      {base + "oversize = \"headers\"\n", "has no effect without max_size"},
      {base + "maildir = \"~/M\"\nmbox = \"~/m\"\n", "set only one of maildir, mbox and mda"},
      {base + "port = 0\n", "out of range"},
      {base + "name = \"../evil\"\n", "key 'account.name'"},
      {"[[account]]\nhost = \"h\"\nuser = \"a\\r\\nQUIT\"\npassword_env = \"X\"\n",
       "fetch.toml:3: key 'account.user'"},
      {"[[account]]\nhost = \"mail.example.org:995\"\nuser = \"u\"\npassword_env = \"X\"\n",
       "write the port as port = N"},
      {"[account]\nhost = \"h\"\n", "expected [[account]] tables"},
      {"[general]\n", "key 'general': unknown setting"},
      {"", "no [[account]]"},
      {base + base, "a second account named"},
      {"[[account]\n", "TOML syntax error"},
      {"[[account]]\nhost = \"h\"\nuser = \"u\"\npassword_env = \"X\"\ntls = \"none\"\ninsecure = "
       "true\n",
       "has no effect with tls = \"none\""},
  };
  for (const auto& c : cases) {
    const std::string message = error_of(c.text);
    EXPECT_NE(message.find(c.expected), std::string::npos)
        << "text:\n"
        << c.text << "\nmessage: " << message << "\nexpected: " << c.expected;
  }
}

TEST(Accounts, RelativePathsAreTakenFromTheFilesFolder) {
  const auto accounts = parse_accounts(
      "[[account]]\nhost = \"h\"\nuser = \"u\"\npassword_file = \"pw\"\nmbox = "
      "\"../mail/inbox\"\nstate_dir = \"./state\"\n",
      "/etc/postern/fetch.toml", env());
  EXPECT_EQ(accounts[0].password.value, "/etc/postern/pw");
  EXPECT_EQ(accounts[0].deliver_path, "/etc/mail/inbox");
  EXPECT_EQ(accounts[0].state_dir, "/etc/postern/state");
}

TEST(Accounts, MissingFileIsAConfigError) {
  try {
    load_accounts("/nonexistent/fetch.toml", env());
    FAIL();
  } catch (const FetchError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/fetch.toml"), std::string::npos);
  }
}

TEST(Accounts, StateNameIsSafeAndDistinct) {
  EXPECT_EQ(state_name("alice", "mail.example.org", 995), "alice@mail.example.org:995");
  EXPECT_EQ(state_name("a/b", "h", 1), "a%2Fb@h:1");
  EXPECT_EQ(state_name(".x", "h", 1), "%2Ex@h:1");
  EXPECT_NE(state_name("a%2Fb", "h", 1), state_name("a/b", "h", 1));
}

TEST(Accounts, Fingerprints) {
  const std::string hex(64, 'a');
  EXPECT_TRUE(parse_fingerprint(hex));
  EXPECT_TRUE(parse_fingerprint("SHA256:" + std::string(64, 'F')));
  std::string colons;
  for (int i = 0; i < 32; ++i) colons += (i ? ":" : "") + std::string("0f");
  ASSERT_TRUE(parse_fingerprint(colons));
  EXPECT_EQ(static_cast<unsigned char>((*parse_fingerprint(colons))[0]), 0x0f);
  EXPECT_FALSE(parse_fingerprint(std::string(63, 'a')));
  EXPECT_FALSE(parse_fingerprint(std::string(64, 'g')));
  EXPECT_FALSE(parse_fingerprint("a:" + std::string(63, 'a')));
}

TEST(Accounts, FromUrl) {
  const auto a = account_from_url(parse_fetch_url("pop3://bob@host:1110"), env());
  EXPECT_EQ(a.tls, TlsMode::starttls);
  EXPECT_EQ(a.port, 1110);
  EXPECT_EQ(a.state_dir, "/home/u/.local/state/postern/fetch/bob@host:1110");
}

}  // namespace
}  // namespace postern::fetch
