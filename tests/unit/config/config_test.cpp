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

// ---- [delivery] and [[lmtp]] ----

namespace postern::config {
namespace {

// A [delivery] or [[lmtp]] table first, so its bad key sits on line 2 (or the header on line 1).
std::string delivery(const std::string& line) {
  return "[delivery]\n" + line + "\n" + minimal;
}
std::string lmtp(const std::string& lines) {
  return "[[lmtp]]\n" + lines + "\n" + minimal;
}

TEST(DeliverySettingsTest, Defaults) {
  const auto c = parse_config(minimal, source);
  EXPECT_EQ(c.delivery.quota_bytes, 0u);
  EXPECT_EQ(c.delivery.quota_messages, 0u);
  EXPECT_EQ(c.delivery.quota_exceeded, QuotaExceeded::bounce);
  EXPECT_EQ(c.delivery.max_message_size, 50u << 20);
  EXPECT_EQ(c.delivery.max_recipients, 1000u);
  EXPECT_TRUE(c.delivery.local_part_fallback);
  EXPECT_EQ(c.delivery.lmtp_clients, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
  EXPECT_TRUE(c.lmtp.empty());
}

TEST(DeliverySettingsTest, ReadsEveryKey) {
  const auto c = parse_config(R"([delivery]
quota_bytes = "2G"
quota_messages = 5000
quota_exceeded = "defer"
max_message_size = "10M"
max_recipients = 50
local_part_fallback = false
lmtp_clients = ["192.0.2.0/24"]
)" + minimal,
                              source);
  EXPECT_EQ(c.delivery.quota_bytes, 2ull << 30);
  EXPECT_EQ(c.delivery.quota_messages, 5000u);
  EXPECT_EQ(c.delivery.quota_exceeded, QuotaExceeded::defer);
  EXPECT_EQ(c.delivery.max_message_size, 10u << 20);
  EXPECT_EQ(c.delivery.max_recipients, 50u);
  EXPECT_FALSE(c.delivery.local_part_fallback);
  EXPECT_EQ(c.delivery.lmtp_clients, std::vector<std::string>{"192.0.2.0/24"});
}

TEST(DeliverySettingsTest, SizesAsIntegersOrWithUnits) {
  const auto c = parse_config(delivery("quota_bytes = 1048576\nmax_message_size = \"1k\""), source);
  EXPECT_EQ(c.delivery.quota_bytes, 1u << 20);
  EXPECT_EQ(c.delivery.max_message_size, 1024u);
  EXPECT_EQ(parse_config(delivery("quota_bytes = \"0\""), source).delivery.quota_bytes, 0u);
  EXPECT_EQ(parse_config(delivery("max_message_size = 1024"), source).delivery.max_message_size,
            1024u);
}

TEST(LmtpListenerTest, TcpAndUnixListeners) {
  const auto c = parse_config(R"([[lmtp]]
address = "127.0.0.1:24"

[[lmtp]]
address = "[::1]:2424"

[[lmtp]]
address = "/run/postern/lmtp"
mode = "0600"
group = "postfix"

[[lmtp]]
address = "/run/postern/lmtp2"
)" + minimal,
                              source);
  ASSERT_EQ(c.lmtp.size(), 4u);
  EXPECT_FALSE(c.lmtp[0].is_unix);
  EXPECT_EQ(c.lmtp[0].text, "127.0.0.1:24");
  EXPECT_EQ(c.lmtp[0].host, "127.0.0.1");
  EXPECT_EQ(c.lmtp[0].port, 24);
  EXPECT_EQ(c.lmtp[1].host, "::1");
  EXPECT_EQ(c.lmtp[1].port, 2424);
  EXPECT_TRUE(c.lmtp[2].is_unix);
  EXPECT_EQ(c.lmtp[2].path, "/run/postern/lmtp");
  EXPECT_EQ(c.lmtp[2].mode, 0600u);
  EXPECT_EQ(c.lmtp[2].group, "postfix");
  EXPECT_TRUE(c.lmtp[3].is_unix);
  EXPECT_EQ(c.lmtp[3].mode, 0660u);  // the default
  EXPECT_TRUE(c.lmtp[3].group.empty());
}

TEST(LmtpListenerTest, AConfigWithOnlyLmtpNeedsNoPop3Listener) {
  const auto c =
      parse_config("[[lmtp]]\naddress = \"/run/postern/lmtp\"\n" + auth_part + mail_part, source);
  EXPECT_TRUE(c.listen.empty());
  ASSERT_EQ(c.lmtp.size(), 1u);
  // And it renders and parses back.
  const auto again = parse_config(render_config(c), "rendered.toml");
  EXPECT_TRUE(again.listen.empty());
  ASSERT_EQ(again.lmtp.size(), 1u);
  EXPECT_EQ(again.lmtp[0].path, "/run/postern/lmtp");
}

TEST(LmtpListenerTest, NeitherListenNorLmtpIsAnError) {
  const auto message = error_of(auth_part + mail_part);
  EXPECT_NE(message.find(source.string() + ": key 'listen': at least one [[listen]] (or [[lmtp]])"),
            std::string::npos)
      << message;
}

INSTANTIATE_TEST_SUITE_P(
    DeliveryKeys, ConfigErrorTest,
    testing::Values(
        ErrorCase{"DeliveryTypo", delivery("quota_byte = 1"), "delivery.quota_byte", 2},
        ErrorCase{"DeliveryNotATable", "delivery = 1\n" + minimal, "delivery", 1},
        ErrorCase{"QuotaBytesUnit", delivery("quota_bytes = \"1X\""), "delivery.quota_bytes", 2},
        ErrorCase{"QuotaBytesPercent", delivery("quota_bytes = \"10%\""), "delivery.quota_bytes",
                  2},
        ErrorCase{"QuotaBytesNegative", delivery("quota_bytes = -1"), "delivery.quota_bytes", 2},
        ErrorCase{"QuotaBytesBool", delivery("quota_bytes = true"), "delivery.quota_bytes", 2},
        ErrorCase{"QuotaBytesOverflow", delivery("quota_bytes = \"99999999999T\""),
                  "delivery.quota_bytes", 2},
        ErrorCase{"QuotaMessagesString", delivery("quota_messages = \"5000\""),
                  "delivery.quota_messages", 2},
        ErrorCase{"QuotaMessagesNegative", delivery("quota_messages = -5"),
                  "delivery.quota_messages", 2},
        ErrorCase{"QuotaExceededWord", delivery("quota_exceeded = \"reject\""),
                  "delivery.quota_exceeded", 2},
        ErrorCase{"QuotaExceededNumber", delivery("quota_exceeded = 1"), "delivery.quota_exceeded",
                  2},
        ErrorCase{"MaxSizeUnderOneK", delivery("max_message_size = \"1023\""),
                  "delivery.max_message_size", 2},
        ErrorCase{"MaxSizeZero", delivery("max_message_size = 0"), "delivery.max_message_size", 2},
        ErrorCase{"MaxSizeUnit", delivery("max_message_size = \"10 MB\""),
                  "delivery.max_message_size", 2},
        ErrorCase{"MaxRecipientsZero", delivery("max_recipients = 0"), "delivery.max_recipients",
                  2},
        ErrorCase{"MaxRecipientsTooMany", delivery("max_recipients = 100001"),
                  "delivery.max_recipients", 2},
        ErrorCase{"FallbackString", delivery("local_part_fallback = \"yes\""),
                  "delivery.local_part_fallback", 2},
        ErrorCase{"LmtpClientsString", delivery("lmtp_clients = \"127.0.0.1/8\""),
                  "delivery.lmtp_clients", 2},
        ErrorCase{"LmtpClientsNumbers", delivery("lmtp_clients = [1, 2]"), "delivery.lmtp_clients",
                  2}),
    [](const auto& test) { return test.param.name; });

INSTANTIATE_TEST_SUITE_P(
    LmtpKeys, ConfigErrorTest,
    testing::Values(
        ErrorCase{"LmtpNotTables", "lmtp = \"127.0.0.1:24\"\n" + minimal, "lmtp", 1},
        ErrorCase{"LmtpTypo", lmtp("adress = \"127.0.0.1:24\""), "lmtp.adress", 2},
        ErrorCase{"LmtpNoAddress", lmtp("mode = \"0600\""), "lmtp.address", 1},
        ErrorCase{"LmtpAddressNumber", lmtp("address = 24"), "lmtp.address", 2},
        ErrorCase{"LmtpNoPort", lmtp("address = \"127.0.0.1\""), "lmtp.address", 2},
        ErrorCase{"LmtpHostName", lmtp("address = \"localhost:24\""), "lmtp.address", 2},
        ErrorCase{"LmtpRelativePath", lmtp("address = \"run/lmtp\""), "lmtp.address", 2},
        ErrorCase{"LmtpPathTooLong", lmtp("address = \"/" + std::string(107, 'x') + "\""),
                  "lmtp.address", 2},
        ErrorCase{"LmtpModeOnTcp", lmtp("address = \"127.0.0.1:24\"\nmode = \"0600\""), "lmtp.mode",
                  3},
        ErrorCase{"LmtpModeNotOctal", lmtp("address = \"/run/lmtp\"\nmode = \"rw-rw----\""),
                  "lmtp.mode", 3},
        ErrorCase{"LmtpModeNine", lmtp("address = \"/run/lmtp\"\nmode = \"0699\""), "lmtp.mode", 3},
        ErrorCase{"LmtpModeSticky", lmtp("address = \"/run/lmtp\"\nmode = \"1777\""), "lmtp.mode",
                  3},
        ErrorCase{"LmtpModeInteger", lmtp("address = \"/run/lmtp\"\nmode = 660"), "lmtp.mode", 3},
        ErrorCase{"LmtpModeEmpty", lmtp("address = \"/run/lmtp\"\nmode = \"\""), "lmtp.mode", 3},
        ErrorCase{"LmtpGroupOnTcp", lmtp("address = \"127.0.0.1:24\"\ngroup = \"postfix\""),
                  "lmtp.group", 3},
        ErrorCase{"LmtpGroupNumber", lmtp("address = \"/run/lmtp\"\ngroup = 12"), "lmtp.group", 3},
        ErrorCase{"LmtpTwice", lmtp("address = \"/run/lmtp\"\n[[lmtp]]\naddress = \"/run/lmtp\""),
                  "lmtp.address", 4}),
    [](const auto& test) { return test.param.name; });

TEST(DeliveryErrorMessageTest, ProblemIsExplained) {
  EXPECT_NE(error_of(delivery("quota_bytes = \"1X\"")).find("\"1X\" is not a size like"),
            std::string::npos);
  EXPECT_NE(error_of(delivery("quota_exceeded = \"reject\""))
                .find("\"reject\" is not one of \"bounce\", \"defer\""),
            std::string::npos);
  EXPECT_NE(error_of(delivery("max_message_size = \"512\"")).find("must be at least 1k"),
            std::string::npos);
  EXPECT_NE(error_of(lmtp("mode = \"0600\"")).find("missing (e.g. address = "), std::string::npos);
  EXPECT_NE(error_of(lmtp("address = \"/" + std::string(120, 'x') + "\""))
                .find("unix socket path too long"),
            std::string::npos);
  EXPECT_NE(error_of(lmtp("address = \"127.0.0.1:24\"\nmode = \"0600\""))
                .find("only for unix socket addresses"),
            std::string::npos);
  EXPECT_NE(error_of(lmtp("address = \"/run/lmtp\"\nmode = \"0999\""))
                .find("\"0999\" is not an octal mode like \"0660\""),
            std::string::npos);
  EXPECT_NE(error_of(lmtp("address = \"nowhere\"")).find("(or an absolute path for a unix socket)"),
            std::string::npos);
  EXPECT_NE(error_of(lmtp("address = \"/run/lmtp\"\n[[lmtp]]\naddress = \"/run/lmtp\""))
                .find("listed twice"),
            std::string::npos);
}

void expect_same_delivery(const Config& a, const Config& b) {
  EXPECT_EQ(a.delivery.quota_bytes, b.delivery.quota_bytes);
  EXPECT_EQ(a.delivery.quota_messages, b.delivery.quota_messages);
  EXPECT_EQ(a.delivery.quota_exceeded, b.delivery.quota_exceeded);
  EXPECT_EQ(a.delivery.max_message_size, b.delivery.max_message_size);
  EXPECT_EQ(a.delivery.max_recipients, b.delivery.max_recipients);
  EXPECT_EQ(a.delivery.local_part_fallback, b.delivery.local_part_fallback);
  EXPECT_EQ(a.delivery.lmtp_clients, b.delivery.lmtp_clients);
  ASSERT_EQ(a.lmtp.size(), b.lmtp.size());
  for (std::size_t i = 0; i < a.lmtp.size(); ++i) {
    EXPECT_EQ(a.lmtp[i].text, b.lmtp[i].text);
    EXPECT_EQ(a.lmtp[i].is_unix, b.lmtp[i].is_unix);
    EXPECT_EQ(a.lmtp[i].path, b.lmtp[i].path);
    EXPECT_EQ(a.lmtp[i].host, b.lmtp[i].host);
    EXPECT_EQ(a.lmtp[i].port, b.lmtp[i].port);
    EXPECT_EQ(a.lmtp[i].mode, b.lmtp[i].mode);
    EXPECT_EQ(a.lmtp[i].group, b.lmtp[i].group);
  }
}

TEST(RenderConfigTest, DeliveryAndLmtpParseBack) {
  const auto original = parse_config(R"([delivery]
quota_bytes = 1000
quota_messages = 7
quota_exceeded = "defer"
max_message_size = "3M"
max_recipients = 2
local_part_fallback = false
lmtp_clients = ["10.0.0.0/8", "2001:db8::/32"]

[[lmtp]]
address = "[::1]:24"

[[lmtp]]
address = "/run/postern/my \"lmtp\""
mode = "0606"
group = "mail"
)" + minimal,
                                     source);
  const auto rendered = render_config(original);
  expect_same_delivery(parse_config(rendered, "rendered.toml"), original);
  EXPECT_NE(rendered.find("quota_bytes = \"1000\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("max_message_size = \"3M\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("mode = \"0606\""), std::string::npos) << rendered;
}

TEST(RenderConfigTest, DeliveryDefaultsParseBack) {
  const auto original = parse_config(minimal, source);
  expect_same_delivery(parse_config(render_config(original), "rendered.toml"), original);
}

TEST(SizeTest, ParsesNumbersAndBinaryUnits) {
  const std::vector<std::pair<std::string, std::uint64_t>> cases = {{"0", 0},
                                                                    {"4096", 4096},
                                                                    {"512k", 512ull << 10},
                                                                    {"512K", 512ull << 10},
                                                                    {"10M", 10ull << 20},
                                                                    {"10m", 10ull << 20},
                                                                    {"1G", 1ull << 30},
                                                                    {"1GB", 1ull << 30},
                                                                    {"2T", 2ull << 40},
                                                                    {"100B", 100},
                                                                    {"1kb", 1024}};
  for (const auto& [text, bytes] : cases) EXPECT_EQ(parse_size(text), bytes) << text;
  for (const std::string bad : {"", "k", "-1", "1.5M", "10%", "1 M", "1P", "1MBB", "M10",
                                "16777216T", "99999999999999999999"}) {
    EXPECT_THROW(parse_size(bad), std::invalid_argument) << bad;
  }
}

TEST(SizeTest, FormatsWithTheLargestExactUnitAndParsesBack) {
  const std::vector<std::pair<std::uint64_t, std::string>> cases = {
      {0, "0"},          {1000, "1000"},       {1024, "1k"},
      {1536, "1536"},    {10ull << 20, "10M"}, {(1ull << 30) + 1, "1073741825"},
      {3ull << 40, "3T"}};
  for (const auto& [bytes, text] : cases) {
    EXPECT_EQ(format_size(bytes), text);
    EXPECT_EQ(parse_size(format_size(bytes)), bytes) << text;
  }
}

}  // namespace
}  // namespace postern::config
