// The settings file: every key read into its typed value, defaults for what is left out, and
// errors that name the file, the line and the key, so an administrator can fix them at once.
#include "config/config.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace postern::config {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path source = "/etc/postern/test.toml";

// The three required parts, two lines each, so a case can put its bad line first (line 2).
const std::string listen_part = "[[listen]]\naddress = \"127.0.0.1:1110\"\n";
const std::string auth_part = "[auth]\npasswd_file = \"/etc/postern/users\"\n";
const std::string mail_part = "[mail]\nmaildir = \"/var/mail/%d/%n\"\n";
const std::string minimal = listen_part + auth_part + mail_part;

const std::string every_key = R"([server]
hostname = "pop.example.org"
idle_timeout = "90s"
max_bad_commands = 5
max_auth_failures = 2
threads = 4

[[listen]]
address = "127.0.0.1:1110"
tls = "none"

[[listen]]
address = "[::1]:1110"

[auth]
passwd_file = "/etc/postern/users"
allow_plaintext = false

[mail]
maildir = "/srv/mail/%d/%n"
)";

// Runs parse_config expecting a ConfigError, and returns its message.
std::string error_of(const std::string& text) {
  try {
    parse_config(text, source);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

void expect_same(const Config& a, const Config& b) {
  EXPECT_EQ(a.server.hostname, b.server.hostname);
  EXPECT_EQ(a.server.idle_timeout, b.server.idle_timeout);
  EXPECT_EQ(a.server.max_bad_commands, b.server.max_bad_commands);
  EXPECT_EQ(a.server.max_auth_failures, b.server.max_auth_failures);
  EXPECT_EQ(a.server.threads, b.server.threads);
  ASSERT_EQ(a.listen.size(), b.listen.size());
  for (std::size_t i = 0; i < a.listen.size(); ++i) {
    EXPECT_EQ(a.listen[i].text, b.listen[i].text);
    EXPECT_EQ(a.listen[i].host, b.listen[i].host);
    EXPECT_EQ(a.listen[i].port, b.listen[i].port);
    EXPECT_EQ(a.listen[i].tls, b.listen[i].tls);
  }
  EXPECT_EQ(a.auth.passwd_file, b.auth.passwd_file);
  EXPECT_EQ(a.auth.allow_plaintext, b.auth.allow_plaintext);
  EXPECT_EQ(a.auth.trusted_networks, b.auth.trusted_networks);
  EXPECT_EQ(a.mail.maildir, b.mail.maildir);
  EXPECT_EQ(a.tls.certificate, b.tls.certificate);
  EXPECT_EQ(a.tls.private_key, b.tls.private_key);
  EXPECT_EQ(a.tls.min_version, b.tls.min_version);
  EXPECT_EQ(a.tls.ciphers, b.tls.ciphers);
  EXPECT_EQ(a.tls.ciphersuites, b.tls.ciphersuites);
  EXPECT_EQ(a.tls.groups, b.tls.groups);
  ASSERT_EQ(a.tls.sni.size(), b.tls.sni.size());
  for (std::size_t i = 0; i < a.tls.sni.size(); ++i) {
    EXPECT_EQ(a.tls.sni[i].server_name, b.tls.sni[i].server_name);
    EXPECT_EQ(a.tls.sni[i].certificate, b.tls.sni[i].certificate);
    EXPECT_EQ(a.tls.sni[i].private_key, b.tls.sni[i].private_key);
  }
}

// ---- good files ----

TEST(ParseConfigTest, ReadsEveryKey) {
  const auto c = parse_config(every_key, source);
  EXPECT_EQ(c.source, source);
  EXPECT_EQ(c.server.hostname, "pop.example.org");
  EXPECT_EQ(c.server.idle_timeout, 90s);
  EXPECT_EQ(c.server.max_bad_commands, 5u);
  EXPECT_EQ(c.server.max_auth_failures, 2u);
  EXPECT_EQ(c.server.threads, 4u);
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[0].text, "127.0.0.1:1110");
  EXPECT_EQ(c.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.listen[0].port, 1110);
  EXPECT_EQ(c.listen[0].tls, TlsMode::none);
  EXPECT_EQ(c.listen[1].text, "[::1]:1110");
  EXPECT_EQ(c.listen[1].host, "::1");
  EXPECT_EQ(c.listen[1].port, 1110);
  EXPECT_EQ(c.auth.passwd_file, "/etc/postern/users");
  EXPECT_FALSE(c.auth.allow_plaintext);
  EXPECT_EQ(c.mail.maildir, "/srv/mail/%d/%n");
}

TEST(ParseConfigTest, FillsDefaultsForOptionalKeys) {
  const auto c = parse_config(minimal, source);
  EXPECT_FALSE(c.server.hostname.empty());
  EXPECT_EQ(c.server.idle_timeout, 10min);
  EXPECT_EQ(c.server.max_bad_commands, 10u);
  EXPECT_EQ(c.server.max_auth_failures, 3u);
  EXPECT_EQ(c.server.threads, 0u);
  EXPECT_FALSE(c.auth.allow_plaintext);
  EXPECT_EQ(c.auth.trusted_networks, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].tls, TlsMode::none);
  EXPECT_TRUE(c.tls.certificate.empty());
  EXPECT_EQ(c.tls.min_version, TlsVersion::v1_2);
  EXPECT_TRUE(c.tls.ciphers.empty());
  EXPECT_TRUE(c.tls.ciphersuites.empty());
  EXPECT_TRUE(c.tls.groups.empty());
  EXPECT_TRUE(c.tls.sni.empty());
}

const std::string tls_part =
    "[tls]\ncertificate = \"/etc/postern/cert.pem\"\nprivate_key = \"/etc/postern/key.pem\"\n";

TEST(ParseConfigTest, ReadsTlsListenersAndTheTlsTable) {
  const auto c = parse_config(R"([[listen]]
address = "127.0.0.1:1110"
tls = "starttls"

[[listen]]
address = "127.0.0.1:1995"
tls = "implicit"

[tls]
certificate = "/etc/postern/cert.pem"
private_key = "/etc/postern/key.pem"
min_version = "1.3"
ciphers = "ECDHE+AESGCM"
ciphersuites = "TLS_AES_256_GCM_SHA384"
groups = "X25519:P-256"

[[tls.sni]]
server_name = "Mail.Example.NET"
certificate = "/etc/postern/net.pem"
private_key = "/etc/postern/net.key"

[auth]
passwd_file = "/etc/postern/users"
trusted_networks = ["10.0.0.0/8"]
allow_plaintext = true
)" + mail_part,
                              source);
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[0].tls, TlsMode::starttls);
  EXPECT_EQ(c.listen[1].tls, TlsMode::implicit);
  EXPECT_EQ(c.tls.certificate, "/etc/postern/cert.pem");
  EXPECT_EQ(c.tls.private_key, "/etc/postern/key.pem");
  EXPECT_EQ(c.tls.min_version, TlsVersion::v1_3);
  EXPECT_EQ(c.tls.ciphers, "ECDHE+AESGCM");
  EXPECT_EQ(c.tls.ciphersuites, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(c.tls.groups, "X25519:P-256");
  ASSERT_EQ(c.tls.sni.size(), 1u);
  EXPECT_EQ(c.tls.sni[0].server_name, "mail.example.net");
  EXPECT_EQ(c.tls.sni[0].certificate, "/etc/postern/net.pem");
  EXPECT_EQ(c.tls.sni[0].private_key, "/etc/postern/net.key");
  EXPECT_EQ(c.auth.trusted_networks, std::vector<std::string>{"10.0.0.0/8"});
  EXPECT_TRUE(c.auth.allow_plaintext);
}

TEST(ParseConfigTest, EmptyTrustedNetworksTrustsNobody) {
  const auto c = parse_config(
      listen_part + "[auth]\npasswd_file = \"/x\"\ntrusted_networks = []\n" + mail_part, source);
  EXPECT_TRUE(c.auth.trusted_networks.empty());
}

TEST(ParseConfigTest, TlsListenerWithoutCertificateNamesTheKeyAndTheListener) {
  for (const auto* mode : {"starttls", "implicit"}) {
    const auto message =
        error_of(fmt::format("[[listen]]\naddress = \"127.0.0.1:995\"\ntls = \"{}\"\n", mode) +
                 auth_part + mail_part);
    EXPECT_NE(message.find("key 'tls.certificate'"), std::string::npos) << message;
    EXPECT_NE(message.find("127.0.0.1:995"), std::string::npos) << message;
  }
}

TEST(ParseConfigTest, AcceptsTheDocumentedRanges) {
  const auto c = parse_config(
      "[server]\nidle_timeout = \"1s\"\nmax_bad_commands = 1000\nmax_auth_failures = 100\n"
      "threads = 256\n" +
          minimal,
      source);
  EXPECT_EQ(c.server.idle_timeout, 1s);
  EXPECT_EQ(c.server.max_bad_commands, 1000u);
  EXPECT_EQ(c.server.max_auth_failures, 100u);
  EXPECT_EQ(c.server.threads, 256u);
}

TEST(ParseConfigTest, AcceptsEveryMaildirVariable) {
  for (const auto* maildir : {"/m/%u", "/m/%n", "%h/Maildir", "/m/%d/%n", "/m/100%%/%u"}) {
    const auto c = parse_config(
        fmt::format("[mail]\nmaildir = \"{}\"\n", maildir) + listen_part + auth_part, source);
    EXPECT_EQ(c.mail.maildir, maildir);
  }
}

// ---- errors: each names the file, the line where there is one, and the key ----

struct ErrorCase {
  std::string name;
  std::string text;
  std::string key;
  int line;  // 0: a missing key has no line
};

void PrintTo(const ErrorCase& c, std::ostream* out) {
  *out << c.name;
}

class ConfigErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesFileLineAndKey) {
  const auto& c = GetParam();
  const auto message = error_of(c.text);
  const auto where = c.line > 0 ? fmt::format("{}:{}: key '{}'", source.string(), c.line, c.key)
                                : fmt::format("{}: key '{}'", source.string(), c.key);
  EXPECT_NE(message.find(where), std::string::npos) << message << "\nwanted: " << where;
}

std::string server(const std::string& line) {
  return "[server]\n" + line + "\n" + minimal;
}

INSTANTIATE_TEST_SUITE_P(
    UnknownKeys, ConfigErrorTest,
    testing::Values(ErrorCase{"ServerTypo", server("hostnme = \"x\""), "server.hostnme", 2},
                    ErrorCase{"SectionTypo", "[mial]\nmaildir = \"/m/%u\"\n" + minimal, "mial", 1},
                    ErrorCase{"TopLevelKey", "verbose = true\n" + minimal, "verbose", 1},
                    ErrorCase{"ListenTypo",
                              "[[listen]]\nadress = \"127.0.0.1:110\"\n" + auth_part + mail_part,
                              "listen.adress", 2},
                    ErrorCase{"AuthTypo", "[auth]\npasswd = \"/x\"\n" + listen_part + mail_part,
                              "auth.passwd", 2},
                    ErrorCase{"MailTypo", "[mail]\nmaildri = \"/m/%u\"\n" + listen_part + auth_part,
                              "mail.maildri", 2}),
    [](const auto& test) { return test.param.name; });

INSTANTIATE_TEST_SUITE_P(
    WrongTypes, ConfigErrorTest,
    testing::Values(
        ErrorCase{"HostnameNumber", server("hostname = 5"), "server.hostname", 2},
        ErrorCase{"HostnameEmpty", server("hostname = \"\""), "server.hostname", 2},
        ErrorCase{"HostnameSpace", server("hostname = \"a b\""), "server.hostname", 2},
        ErrorCase{"HostnameAngle", server("hostname = \"<x>\""), "server.hostname", 2},
        ErrorCase{"BadCommandsString", server("max_bad_commands = \"10\""),
                  "server.max_bad_commands", 2},
        ErrorCase{"BadCommandsZero", server("max_bad_commands = 0"), "server.max_bad_commands", 2},
        ErrorCase{"BadCommandsTooMany", server("max_bad_commands = 1001"),
                  "server.max_bad_commands", 2},
        ErrorCase{"AuthFailuresFloat", server("max_auth_failures = 2.5"),
                  "server.max_auth_failures", 2},
        ErrorCase{"AuthFailuresTooMany", server("max_auth_failures = 101"),
                  "server.max_auth_failures", 2},
        ErrorCase{"ThreadsNegative", server("threads = -1"), "server.threads", 2},
        ErrorCase{"ThreadsTooMany", server("threads = 257"), "server.threads", 2},
        ErrorCase{"TimeoutNumber", server("idle_timeout = 30"), "server.idle_timeout", 2},
        ErrorCase{"TimeoutNoUnit", server("idle_timeout = \"30\""), "server.idle_timeout", 2},
        ErrorCase{"TimeoutBadUnit", server("idle_timeout = \"10x\""), "server.idle_timeout", 2},
        ErrorCase{"TimeoutUnder100ms", server("idle_timeout = \"99ms\""), "server.idle_timeout", 2},
        ErrorCase{"TimeoutZero", server("idle_timeout = \"0s\""), "server.idle_timeout", 2},
        ErrorCase{"UnknownMechanism",
                  "[auth]\nmechanisms = [\"PLAIN\", \"NTLM\"]\n" + listen_part + mail_part,
                  "auth.mechanisms", 2},
        ErrorCase{"OAuthMechanismWithoutTable",
                  "[auth]\nmechanisms = [\"OAUTHBEARER\"]\n" + listen_part + mail_part,
                  "auth.mechanisms", 2},
        ErrorCase{"PlaintextString",
                  "[auth]\nallow_plaintext = \"yes\"\n" + listen_part + mail_part,
                  "auth.allow_plaintext", 2},
        ErrorCase{"PasswdFileBool", "[auth]\npasswd_file = true\n" + listen_part + mail_part,
                  "auth.passwd_file", 2},
        ErrorCase{"MaildirNumber", "[mail]\nmaildir = 1\n" + listen_part + auth_part,
                  "mail.maildir", 2},
        ErrorCase{"ServerNotATable", "server = 1\n" + minimal, "server", 1},
        ErrorCase{"ListenNotTables", "listen = \"127.0.0.1:110\"\n" + auth_part + mail_part,
                  "listen", 1},
        ErrorCase{"AddressNumber", "[[listen]]\naddress = 110\n" + auth_part + mail_part,
                  "listen.address", 2}),
    [](const auto& test) { return test.param.name; });

std::string listen_with_tls(const std::string& tls) {
  return "[[listen]]\ntls = " + tls + "\naddress = \"127.0.0.1:110\"\n" + auth_part + mail_part;
}

INSTANTIATE_TEST_SUITE_P(
    Listen, ConfigErrorTest,
    testing::Values(ErrorCase{"TlsUnknown", listen_with_tls("\"ssl\""), "listen.tls", 2},
                    ErrorCase{"TlsStarttlsWithoutCertificate", listen_with_tls("\"starttls\""),
                              "tls.certificate", 0},
                    ErrorCase{"TlsImplicitWithoutCertificate", listen_with_tls("\"implicit\""),
                              "tls.certificate", 0},
                    ErrorCase{"TlsBool", listen_with_tls("true"), "listen.tls", 2},
                    ErrorCase{"AddressMissing",
                              "[[listen]]\ntls = \"none\"\n" + auth_part + mail_part,
                              "listen.address", 1},
                    ErrorCase{"SameAddressTwice",
                              listen_part + "[[listen]]\naddress = \"127.0.0.1:1110\"\n" +
                                  auth_part + mail_part,
                              "listen.address", 4}),
    [](const auto& test) { return test.param.name; });

std::string tls_table(const std::string& lines) {
  return "[tls]\n" + lines + "\n" + minimal;
}

INSTANTIATE_TEST_SUITE_P(
    Tls, ConfigErrorTest,
    testing::Values(
        ErrorCase{"Typo", tls_table("certificat = \"/c\""), "tls.certificat", 2},
        ErrorCase{"CertificateNumber", tls_table("certificate = 1\nprivate_key = \"/k\""),
                  "tls.certificate", 2},
        ErrorCase{"KeyWithoutCertificate", tls_table("private_key = \"/k\""), "tls.certificate", 1},
        ErrorCase{"CertificateWithoutKey", tls_table("certificate = \"/c\""), "tls.private_key", 1},
        ErrorCase{"EmptyKey", tls_table("certificate = \"/c\"\nprivate_key = \"\""),
                  "tls.private_key", 3},
        ErrorCase{"MinVersionOld", tls_table("min_version = \"1.1\""), "tls.min_version", 2},
        ErrorCase{"MinVersionNumber", tls_table("min_version = 1.2"), "tls.min_version", 2},
        ErrorCase{"CiphersNumber", tls_table("ciphers = 5"), "tls.ciphers", 2},
        ErrorCase{"SniWithoutDefault",
                  "[[tls.sni]]\nserver_name = \"a.example\"\ncertificate = \"/c\"\n"
                  "private_key = \"/k\"\n" +
                      minimal,
                  "tls.certificate", 1},
        ErrorCase{"SniWithoutName",
                  tls_part + "[[tls.sni]]\ncertificate = \"/c\"\nprivate_key = \"/k\"\n" + minimal,
                  "tls.sni.server_name", 4},
        ErrorCase{
            "SniWithoutKey",
            tls_part + "[[tls.sni]]\nserver_name = \"a.example\"\ncertificate = \"/c\"\n" + minimal,
            "tls.sni.private_key", 4},
        ErrorCase{"SniTwice",
                  tls_part +
                      "[[tls.sni]]\nserver_name = \"a.example\"\ncertificate = \"/c\"\n"
                      "private_key = \"/k\"\n[[tls.sni]]\nserver_name = \"A.example\"\n"
                      "certificate = \"/c\"\nprivate_key = \"/k\"\n" +
                      minimal,
                  "tls.sni.server_name", 9},
        ErrorCase{"SniTypo", tls_part + "[[tls.sni]]\nservername = \"a.example\"\n" + minimal,
                  "tls.sni.servername", 5},
        ErrorCase{"TrustedNetworksString",
                  "[auth]\ntrusted_networks = \"127.0.0.1\"\n" + listen_part + mail_part,
                  "auth.trusted_networks", 2},
        ErrorCase{"TrustedNetworksNumbers",
                  "[auth]\ntrusted_networks = [127]\n" + listen_part + mail_part,
                  "auth.trusted_networks", 2}),
    [](const auto& test) { return test.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Missing, ConfigErrorTest,
    testing::Values(ErrorCase{"Listen", auth_part + mail_part, "listen", 0},
                    ErrorCase{"PasswdFile", listen_part + mail_part, "auth.passwd_file", 0},
                    ErrorCase{"PasswdFileInEmptyAuth", "[auth]\n" + listen_part + mail_part,
                              "auth.passwd_file", 0},
                    ErrorCase{"Maildir", listen_part + auth_part, "mail.maildir", 0},
                    ErrorCase{"Everything", "", "listen", 0}),
    [](const auto& test) { return test.param.name; });

std::string maildir(const std::string& value) {
  return "[mail]\nmaildir = \"" + value + "\"\n" + listen_part + auth_part;
}

INSTANTIATE_TEST_SUITE_P(
    MaildirTemplate, ConfigErrorTest,
    testing::Values(ErrorCase{"UnknownVariable", maildir("/var/mail/%q"), "mail.maildir", 2},
                    ErrorCase{"UpperCaseVariable", maildir("/var/mail/%U"), "mail.maildir", 2},
                    ErrorCase{"TrailingPercent", maildir("/var/mail/%u%"), "mail.maildir", 2},
                    ErrorCase{"NoVariable", maildir("/var/mail/shared"), "mail.maildir", 2},
                    // "%%" is a literal '%', not a variable: every user would share one maildir.
                    ErrorCase{"OnlyEscapedPercent", maildir("/var/mail/%%"), "mail.maildir", 2},
                    ErrorCase{"Empty", maildir(""), "mail.maildir", 2}),
    [](const auto& test) { return test.param.name; });

TEST(ConfigErrorMessageTest, TomlSyntaxErrorNamesFileAndLine) {
  const auto message = error_of("[server]\nhostname = \"x\"\nthreads = = 4\n" + minimal);
  EXPECT_NE(message.find(source.string() + ":3:"), std::string::npos) << message;
  EXPECT_NE(message.find("TOML syntax error"), std::string::npos) << message;
}

TEST(ConfigErrorMessageTest, UnterminatedStringNamesItsLine) {
  const auto message = error_of(listen_part + auth_part + "[mail]\nmaildir = \"/var/mail/%u\n");
  EXPECT_NE(message.find(source.string() + ":6:"), std::string::npos) << message;
}

TEST(ConfigErrorMessageTest, ProblemIsExplained) {
  EXPECT_NE(error_of(server("hostnme = \"x\"")).find("unknown setting"), std::string::npos);
  EXPECT_NE(error_of(server("threads = 300")).find("out of range"), std::string::npos);
  EXPECT_NE(error_of(listen_with_tls("\"ssl\"")).find("\"ssl\""), std::string::npos);
  EXPECT_NE(error_of(maildir("/m/%q")).find("%q"), std::string::npos);
}

// ---- listen addresses ----

struct AddressCase {
  std::string text;
  std::string host;
  std::uint16_t port;
};

void PrintTo(const AddressCase& c, std::ostream* out) {
  *out << c.text;
}

class GoodAddressTest : public testing::TestWithParam<AddressCase> {};

TEST_P(GoodAddressTest, SplitsHostAndPort) {
  const auto address = parse_listen_address(GetParam().text);
  EXPECT_EQ(address.text, GetParam().text);
  EXPECT_EQ(address.host, GetParam().host);
  EXPECT_EQ(address.port, GetParam().port);
  EXPECT_EQ(address.tls, TlsMode::none);
}

INSTANTIATE_TEST_SUITE_P(
    Table, GoodAddressTest,
    testing::Values(AddressCase{"127.0.0.1:110", "127.0.0.1", 110},
                    AddressCase{"0.0.0.0:0", "0.0.0.0", 0},
                    AddressCase{"192.0.2.1:65535", "192.0.2.1", 65535},
                    AddressCase{"[::1]:1110", "::1", 1110}, AddressCase{"[::]:110", "::", 110},
                    AddressCase{"[2001:db8::1]:995", "2001:db8::1", 995},
                    AddressCase{"[::ffff:192.0.2.1]:110", "::ffff:192.0.2.1", 110}));

class BadAddressTest : public testing::TestWithParam<std::string> {};

TEST_P(BadAddressTest, IsRefusedByTheParser) {
  EXPECT_THROW(parse_listen_address(GetParam()), std::invalid_argument) << GetParam();
}

TEST_P(BadAddressTest, IsRefusedInTheFileWithKeyAndLine) {
  const auto message =
      error_of("[[listen]]\naddress = \"" + GetParam() + "\"\n" + auth_part + mail_part);
  EXPECT_NE(message.find(source.string() + ":2: key 'listen.address'"), std::string::npos)
      << message;
  EXPECT_NE(message.find(GetParam()), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadAddressTest,
    testing::Values("nohost", "1.2.3.4", "1.2.3.4:99999", "1.2.3.4:65536", "[::1]1110",
                    "host.example:110", "localhost:110", "1.2.3.4:", ":110", "[::1]:", "[]:110",
                    "::1:110", "[::1:110", "1.2.3.4:-1", "1.2.3.4:+1", "1.2.3.4:0x10",
                    "1.2.3.4:110 ", " 1.2.3.4:110", "1.2.3:110", "1.2.3.4.5:110", "[::g]:110",
                    // IP literals only: these have the right characters but are no address.
                    "256.0.0.1:110", "1.2.3.:110", "[::1::2]:110"));

// ---- durations ----

struct DurationCase {
  std::string text;
  std::optional<std::chrono::milliseconds> value;
};

void PrintTo(const DurationCase& c, std::ostream* out) {
  *out << testing::PrintToString(c.text);
}

class DurationTest : public testing::TestWithParam<DurationCase> {};

TEST_P(DurationTest, ParsesOnlyANumberWithAUnit) {
  const auto& c = GetParam();
  if (c.value) {
    EXPECT_EQ(parse_duration(c.text), *c.value);
  } else {
    EXPECT_THROW(parse_duration(c.text), std::invalid_argument);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, DurationTest,
    testing::Values(DurationCase{"500ms", 500ms}, DurationCase{"30s", 30s},
                    DurationCase{"10m", 10min}, DurationCase{"1h", 1h}, DurationCase{"0s", 0s},
                    DurationCase{"90m", 90min}, DurationCase{"10", std::nullopt},
                    DurationCase{"10x", std::nullopt}, DurationCase{"", std::nullopt},
                    DurationCase{"-1s", std::nullopt}, DurationCase{"+1s", std::nullopt},
                    DurationCase{"s", std::nullopt}, DurationCase{"1.5s", std::nullopt},
                    DurationCase{" 1s", std::nullopt}, DurationCase{"1s ", std::nullopt},
                    DurationCase{"1 s", std::nullopt}, DurationCase{"1S", std::nullopt},
                    DurationCase{"1sec", std::nullopt}, DurationCase{"1m30s", std::nullopt},
                    DurationCase{"99999999999999999999s", std::nullopt}));

TEST(DurationFormatTest, UsesTheLargestExactUnitAndParsesBack) {
  const std::pair<std::chrono::milliseconds, std::string> cases[] = {
      {500ms, "500ms"}, {1500ms, "1500ms"}, {30s, "30s"}, {90s, "90s"},
      {10min, "10m"},   {90min, "90m"},     {1h, "1h"},   {48h, "48h"}};
  for (const auto& [value, text] : cases) {
    EXPECT_EQ(format_duration(value), text);
    EXPECT_EQ(parse_duration(format_duration(value)), value) << text;
  }
}

// ---- render_config ----

TEST(RenderConfigTest, EveryKeyParsesBackToTheSameValues) {
  const auto original = parse_config(every_key, source);
  const auto rendered = render_config(original);
  expect_same(parse_config(rendered, "rendered.toml"), original);
}

TEST(RenderConfigTest, DefaultsParseBackToTheSameValues) {
  const auto original = parse_config(minimal, source);
  expect_same(parse_config(render_config(original), "rendered.toml"), original);
}

TEST(RenderConfigTest, TlsSettingsParseBack) {
  auto original = parse_config(
      "[[listen]]\naddress = \"127.0.0.1:995\"\ntls = \"implicit\"\n" + tls_part +
          "min_version = \"1.3\"\nciphers = \"HIGH\"\nciphersuites = \"TLS_AES_128_GCM_SHA256\"\n"
          "groups = \"P-256\"\n[[tls.sni]]\nserver_name = \"a.example\"\ncertificate = \"/a.pem\"\n"
          "private_key = \"/a.key\"\n" +
          auth_part + mail_part,
      source);
  original.auth.trusted_networks = {"192.0.2.0/24", "2001:db8::/32"};
  expect_same(parse_config(render_config(original), "rendered.toml"), original);
}

TEST(RenderConfigTest, AwkwardStringsParseBack) {
  auto original = parse_config(every_key, source);
  original.auth.passwd_file = "/srv/my \"users\"/back\\slash/Grüße #1/passwd";
  original.mail.maildir = "/srv/mail 'x' \\ \"y\"/%%/%u";
  original.server.idle_timeout = 1500ms;
  expect_same(parse_config(render_config(original), "rendered.toml"), original);
}

// ---- load_config ----

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "postern-config-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(LoadConfigTest, MissingFileIsNamed) {
  const ScratchDir dir;
  const auto file = dir.path() / "absent.toml";
  try {
    load_config(file);
    FAIL() << "loaded a missing file";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
}

TEST(LoadConfigTest, ReadsAFileAndRemembersWhereFrom) {
  const ScratchDir dir;
  const auto file = dir.write("postern.toml", every_key);
  const auto c = load_config(file);
  EXPECT_EQ(c.source, file);
  expect_same(c, parse_config(every_key, source));
}

TEST(LoadConfigTest, ErrorsInAFileNameThatFile) {
  const ScratchDir dir;
  const auto file = dir.write("postern.toml", server("hostnme = \"x\""));
  try {
    load_config(file);
    FAIL() << "accepted an unknown key";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string() + ":2: key 'server.hostnme'"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace postern::config

namespace postern::config {
namespace {

TEST(AuthMechanisms, DefaultOffersOnlyWhatWorksWithEverySecret) {
  const auto c = parse_config(
      "[auth]\npasswd_file = \"/etc/postern/users\"\n" + listen_part + mail_part, "t.toml");
  EXPECT_EQ(c.auth.mechanisms, (std::vector<std::string>{"PLAIN", "LOGIN"}));
}

TEST(AuthMechanisms, NamesAreCaseInsensitive) {
  const auto c = parse_config(
      "[auth]\npasswd_file = \"/u\"\nmechanisms = [\"scram-sha-256\"]\n" + listen_part + mail_part,
      "t.toml");
  EXPECT_EQ(c.auth.mechanisms, (std::vector<std::string>{"SCRAM-SHA-256"}));
}

}  // namespace
}  // namespace postern::config
