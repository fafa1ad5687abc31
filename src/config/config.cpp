#include "config/config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace postern::config {
namespace {

using namespace std::chrono_literals;

std::string default_hostname() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "localhost";
  return name.data();
}

// Names the place of a problem: "FILE:LINE: key 'section.key': problem".
class Reader {
 public:
  explicit Reader(std::filesystem::path source) : source_(std::move(source)) {}

  [[noreturn]] void fail(std::string_view key, const toml::node* node,
                         std::string_view problem) const {
    const auto line = node ? node->source().begin.line : 0;
    if (line > 0) {
      throw ConfigError(fmt::format("{}:{}: key '{}': {}", source_.string(), line, key, problem));
    }
    throw ConfigError(fmt::format("{}: key '{}': {}", source_.string(), key, problem));
  }

  // Rejects keys this version does not know: a typo must not silently fall back to a default.
  void only_known(const toml::table& table, std::string_view section,
                  std::initializer_list<std::string_view> known) const {
    for (const auto& [key, node] : table) {
      const std::string_view name = key.str();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        fail(section.empty() ? std::string(name) : fmt::format("{}.{}", section, name), &node,
             "unknown setting (see docs/configuration.md)");
      }
    }
  }

  std::string string(const toml::node& node, std::string_view key) const {
    if (!node.is_string())
      fail(key, &node, fmt::format("expected a string, got {}", type_name(node)));
    return std::string(**node.as_string());
  }

  bool boolean(const toml::node& node, std::string_view key) const {
    if (!node.is_boolean()) {
      fail(key, &node, fmt::format("expected true or false, got {}", type_name(node)));
    }
    return **node.as_boolean();
  }

  std::int64_t integer(const toml::node& node, std::string_view key, std::int64_t min,
                       std::int64_t max) const {
    if (!node.is_integer())
      fail(key, &node, fmt::format("expected a whole number, got {}", type_name(node)));
    const auto value = **node.as_integer();
    if (value < min || value > max) {
      fail(key, &node, fmt::format("{} is out of range ({} to {})", value, min, max));
    }
    return value;
  }

  std::chrono::milliseconds duration(const toml::node& node, std::string_view key) const {
    const auto text = string(node, key);
    try {
      return parse_duration(text);
    } catch (const std::invalid_argument& e) {
      fail(key, &node, e.what());
    }
  }

  std::vector<std::string> string_list(const toml::node& node, std::string_view key,
                                       std::string_view example) const {
    if (!node.is_array()) {
      fail(key, &node, fmt::format("expected a list of strings, e.g. {}", example));
    }
    std::vector<std::string> out;
    for (const auto& element : *node.as_array()) out.push_back(string(element, key));
    return out;
  }

  const toml::table& table(const toml::node& node, std::string_view key) const {
    if (!node.is_table())
      fail(key, &node, fmt::format("expected a table [{}], got {}", key, type_name(node)));
    return *node.as_table();
  }

 private:
  static std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "a whole number";
      case toml::node_type::floating_point: return "a number";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::array: return "an array";
      case toml::node_type::table: return "a table";
      default: return "a date or time";
    }
  }

  std::filesystem::path source_;
};

void read_server(const Reader& r, const toml::table& t, ServerSettings& s) {
  r.only_known(t, "server",
               {"hostname", "idle_timeout", "max_bad_commands", "max_auth_failures", "threads",
                "user", "group"});
  if (auto n = t.get("user")) s.user = r.string(*n, "server.user");
  if (auto n = t.get("group")) s.group = r.string(*n, "server.group");
  if (auto n = t.get("hostname")) {
    s.hostname = r.string(*n, "server.hostname");
    if (s.hostname.empty() || s.hostname.find_first_of(" \r\n\t<>") != std::string::npos) {
      r.fail("server.hostname", n, "must be a host name without spaces or angle brackets");
    }
  }
  if (auto n = t.get("idle_timeout")) {
    s.idle_timeout = r.duration(*n, "server.idle_timeout");
    // RFC 1939 asks for at least 10 minutes; shorter values serve tests and abuse control.
    if (s.idle_timeout < 100ms) r.fail("server.idle_timeout", n, "must be at least 100ms");
  }
  if (auto n = t.get("max_bad_commands")) {
    s.max_bad_commands =
        static_cast<std::size_t>(r.integer(*n, "server.max_bad_commands", 1, 1000));
  }
  if (auto n = t.get("max_auth_failures")) {
    s.max_auth_failures =
        static_cast<std::size_t>(r.integer(*n, "server.max_auth_failures", 1, 100));
  }
  if (auto n = t.get("threads")) {
    s.threads = static_cast<unsigned>(r.integer(*n, "server.threads", 0, 256));
  }
}

void read_listen(const Reader& r, const toml::node& node, std::vector<ListenAddress>& out) {
  if (!node.is_array_of_tables()) r.fail("listen", &node, "expected [[listen]] tables");
  for (const auto& element : *node.as_array()) {
    const auto& t = *element.as_table();
    r.only_known(t, "listen", {"address", "tls"});
    const auto* address = t.get("address");
    if (!address) r.fail("listen.address", &element, "missing (e.g. address = \"127.0.0.1:110\")");
    ListenAddress listen;
    try {
      listen = parse_listen_address(r.string(*address, "listen.address"));
    } catch (const std::invalid_argument& e) {
      r.fail("listen.address", address, e.what());
    }
    if (auto tls = t.get("tls")) {
      const auto mode = r.string(*tls, "listen.tls");
      if (mode == "none") {
        listen.tls = TlsMode::none;
      } else if (mode == "starttls") {
        listen.tls = TlsMode::starttls;
      } else if (mode == "implicit") {
        listen.tls = TlsMode::implicit;
      } else {
        r.fail("listen.tls", tls,
               fmt::format("\"{}\" is not one of \"none\", \"starttls\", \"implicit\"", mode));
      }
    }
    for (const auto& other : out) {
      if (other.host == listen.host && other.port == listen.port) {
        r.fail("listen.address", address, fmt::format("{} is listed twice", listen.text));
      }
    }
    out.push_back(std::move(listen));
  }
}

void read_lmtp(const Reader& r, const toml::node& node, std::vector<LmtpListener>& out) {
  if (!node.is_array_of_tables()) r.fail("lmtp", &node, "expected [[lmtp]] tables");
  for (const auto& element : *node.as_array()) {
    const auto& t = *element.as_table();
    r.only_known(t, "lmtp", {"address", "mode", "group"});
    const auto* address = t.get("address");
    if (!address) {
      r.fail("lmtp.address", &element,
             "missing (e.g. address = \"127.0.0.1:24\" or \"/run/postern/lmtp\")");
    }
    LmtpListener lmtp;
    lmtp.text = r.string(*address, "lmtp.address");
    if (lmtp.text.starts_with('/')) {
      lmtp.is_unix = true;
      lmtp.path = lmtp.text;
      if (lmtp.text.size() >= 108) r.fail("lmtp.address", address, "unix socket path too long");
    } else {
      try {
        const auto parsed = parse_listen_address(lmtp.text);
        lmtp.host = parsed.host;
        lmtp.port = parsed.port;
      } catch (const std::invalid_argument& e) {
        r.fail("lmtp.address", address,
               fmt::format("{} (or an absolute path for a unix socket)", e.what()));
      }
    }
    if (auto n = t.get("mode")) {
      if (!lmtp.is_unix) r.fail("lmtp.mode", n, "only for unix socket addresses");
      const auto text = r.string(*n, "lmtp.mode");
      unsigned mode = 0;
      const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
      if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || mode > 0777) {
        r.fail("lmtp.mode", n, fmt::format("\"{}\" is not an octal mode like \"0660\"", text));
      }
      lmtp.mode = mode;
    }
    if (auto n = t.get("group")) {
      if (!lmtp.is_unix) r.fail("lmtp.group", n, "only for unix socket addresses");
      lmtp.group = r.string(*n, "lmtp.group");
    }
    for (const auto& other : out) {
      if (other.text == lmtp.text) {
        r.fail("lmtp.address", address, fmt::format("{} is listed twice", lmtp.text));
      }
    }
    out.push_back(std::move(lmtp));
  }
}

void read_delivery(const Reader& r, const toml::table& t, DeliverySettings& s) {
  r.only_known(t, "delivery",
               {"quota_bytes", "quota_messages", "quota_exceeded", "max_message_size",
                "max_recipients", "local_part_fallback", "lmtp_clients"});
  const auto size = [&r](const toml::node& n, std::string_view key) -> std::uint64_t {
    if (n.is_integer()) return static_cast<std::uint64_t>(r.integer(n, key, 0, INT64_MAX));
    try {
      return parse_size(r.string(n, key));
    } catch (const std::invalid_argument& e) {
      r.fail(key, &n, e.what());
    }
  };
  if (auto n = t.get("quota_bytes")) s.quota_bytes = size(*n, "delivery.quota_bytes");
  if (auto n = t.get("quota_messages")) {
    s.quota_messages =
        static_cast<std::uint64_t>(r.integer(*n, "delivery.quota_messages", 0, INT64_MAX));
  }
  if (auto n = t.get("quota_exceeded")) {
    const auto text = r.string(*n, "delivery.quota_exceeded");
    if (text == "bounce") {
      s.quota_exceeded = QuotaExceeded::bounce;
    } else if (text == "defer") {
      s.quota_exceeded = QuotaExceeded::defer;
    } else {
      r.fail("delivery.quota_exceeded", n,
             fmt::format("\"{}\" is not one of \"bounce\", \"defer\"", text));
    }
  }
  if (auto n = t.get("max_message_size")) {
    s.max_message_size = size(*n, "delivery.max_message_size");
    if (s.max_message_size < 1024) {
      r.fail("delivery.max_message_size", n, "must be at least 1k");
    }
  }
  if (auto n = t.get("max_recipients")) {
    s.max_recipients =
        static_cast<std::size_t>(r.integer(*n, "delivery.max_recipients", 1, 100'000));
  }
  if (auto n = t.get("local_part_fallback")) {
    s.local_part_fallback = r.boolean(*n, "delivery.local_part_fallback");
  }
  if (auto n = t.get("lmtp_clients")) {
    s.lmtp_clients = r.string_list(*n, "delivery.lmtp_clients", "[\"127.0.0.0/8\", \"::1/128\"]");
  }
}

OAuthSettings read_oauth(const Reader& r, const toml::table& t) {
  r.only_known(t, "auth.oauth", {"public_key", "issuer", "audience", "user_claim"});
  OAuthSettings s;
  const auto required = [&](std::string_view key) {
    const auto full = fmt::format("auth.oauth.{}", key);
    const auto* n = t.get(key);
    if (!n) r.fail(full, nullptr, "missing (needed to check bearer tokens)");
    auto value = r.string(*n, full);
    if (value.empty()) r.fail(full, n, "must not be empty");
    return value;
  };
  s.public_key = required("public_key");
  s.issuer = required("issuer");
  s.audience = required("audience");
  if (auto n = t.get("user_claim")) s.user_claim = r.string(*n, "auth.oauth.user_claim");
  std::ifstream in(s.public_key, std::ios::binary);
  std::stringstream pem;
  if (in) pem << in.rdbuf();
  if (!in || pem.str().find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
    r.fail("auth.oauth.public_key", t.get("public_key"),
           fmt::format("{} is not a readable PEM public key", s.public_key.string()));
  }
  s.public_key_pem = pem.str();
  return s;
}

void read_auth(const Reader& r, const toml::table& t, AuthSettings& s) {
  r.only_known(t, "auth",
               {"passwd_file", "allow_plaintext", "trusted_networks", "failure_delay",
                "max_failure_delay", "block_after_failures", "block_window", "block_duration",
                "apop", "oauth", "mechanisms", "cache_ttl", "cache_size"});
  if (auto n = t.get("cache_ttl")) s.cache_ttl = r.duration(*n, "auth.cache_ttl");
  if (auto n = t.get("cache_size")) {
    s.cache_size = static_cast<std::size_t>(r.integer(*n, "auth.cache_size", 0, 10'000'000));
  }
  if (auto n = t.get("apop")) s.apop = r.boolean(*n, "auth.apop");
  if (auto n = t.get("oauth")) s.oauth = read_oauth(r, r.table(*n, "auth.oauth"));
  if (auto n = t.get("mechanisms")) {
    s.mechanisms =
        r.string_list(*n, "auth.mechanisms", "[\"PLAIN\", \"LOGIN\", \"SCRAM-SHA-256\"]");
    for (auto& name : s.mechanisms) {
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      static constexpr std::array known{
          "PLAIN",       "LOGIN",  "CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
          "OAUTHBEARER", "XOAUTH2"};
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        r.fail("auth.mechanisms", n,
               fmt::format("unknown mechanism \"{}\" (known: PLAIN, LOGIN, CRAM-MD5, "
                           "SCRAM-SHA-256, SCRAM-SHA-256-PLUS, OAUTHBEARER, XOAUTH2)",
                           name));
      }
      if ((name == "OAUTHBEARER" || name == "XOAUTH2") && !s.oauth) {
        r.fail("auth.mechanisms", n, fmt::format("{} needs an [auth.oauth] table", name));
      }
    }
  } else if (s.oauth) {
    s.mechanisms.push_back("OAUTHBEARER");
    s.mechanisms.push_back("XOAUTH2");
  }
  if (auto n = t.get("failure_delay")) s.failure_delay = r.duration(*n, "auth.failure_delay");
  if (auto n = t.get("max_failure_delay")) {
    s.max_failure_delay = r.duration(*n, "auth.max_failure_delay");
  }
  if (auto n = t.get("block_after_failures")) {
    s.block_after_failures =
        static_cast<unsigned>(r.integer(*n, "auth.block_after_failures", 0, 1'000'000));
  }
  if (auto n = t.get("block_window")) s.block_window = r.duration(*n, "auth.block_window");
  if (auto n = t.get("block_duration")) s.block_duration = r.duration(*n, "auth.block_duration");
  if (auto n = t.get("passwd_file")) s.passwd_file = r.string(*n, "auth.passwd_file");
  if (auto n = t.get("allow_plaintext")) s.allow_plaintext = r.boolean(*n, "auth.allow_plaintext");
  if (auto n = t.get("trusted_networks")) {
    if (!n->is_array()) {
      r.fail("auth.trusted_networks", n,
             "expected a list of networks, e.g. [\"127.0.0.0/8\", \"::1/128\"] (or [] for none)");
    }
    s.trusted_networks.clear();
    for (const auto& element : *n->as_array()) {
      s.trusted_networks.push_back(r.string(element, "auth.trusted_networks"));
    }
  }
}

void read_limits(const Reader& r, const toml::table& t, LimitSettings& s) {
  r.only_known(t, "limits", {"connections", "connections_per_address", "sessions_per_user"});
  if (auto n = t.get("connections")) {
    s.connections = static_cast<std::size_t>(r.integer(*n, "limits.connections", 0, 10'000'000));
  }
  if (auto n = t.get("connections_per_address")) {
    s.connections_per_address =
        static_cast<std::size_t>(r.integer(*n, "limits.connections_per_address", 0, 10'000'000));
  }
  if (auto n = t.get("sessions_per_user")) {
    s.sessions_per_user =
        static_cast<std::size_t>(r.integer(*n, "limits.sessions_per_user", 0, 1'000'000));
  }
}

void read_access(const Reader& r, const toml::table& t, AccessSettings& s) {
  r.only_known(t, "access", {"allow", "deny"});
  constexpr std::string_view example = "[\"192.0.2.0/24\", \"2001:db8::/32\"]";
  if (auto n = t.get("allow")) s.allow = r.string_list(*n, "access.allow", example);
  if (auto n = t.get("deny")) s.deny = r.string_list(*n, "access.deny", example);
}

std::filesystem::path required_path(const Reader& r, const toml::table& t, std::string_view key,
                                    std::string_view section, const toml::node* where) {
  const auto full = fmt::format("{}.{}", section, key);
  const auto* n = t.get(key);
  if (!n) r.fail(full, where, "missing: the path of a PEM file");
  auto path = r.string(*n, full);
  if (path.empty()) r.fail(full, n, "must be the path of a PEM file");
  return path;
}

void read_sni(const Reader& r, const toml::node& node, std::vector<SniCertificate>& out) {
  if (!node.is_array_of_tables()) r.fail("tls.sni", &node, "expected [[tls.sni]] tables");
  for (const auto& element : *node.as_array()) {
    const auto& t = *element.as_table();
    r.only_known(t, "tls.sni", {"server_name", "certificate", "private_key"});
    SniCertificate sni;
    const auto* name = t.get("server_name");
    if (!name) r.fail("tls.sni.server_name", &element, "missing (e.g. \"mail.example.net\")");
    sni.server_name = r.string(*name, "tls.sni.server_name");
    if (sni.server_name.empty() ||
        sni.server_name.find_first_of(" \t\r\n/:") != std::string::npos) {
      r.fail("tls.sni.server_name", name, "must be a host name such as \"mail.example.net\"");
    }
    std::transform(sni.server_name.begin(), sni.server_name.end(), sni.server_name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const auto& other : out) {
      if (other.server_name == sni.server_name) {
        r.fail("tls.sni.server_name", name, fmt::format("\"{}\" is listed twice", sni.server_name));
      }
    }
    sni.certificate = required_path(r, t, "certificate", "tls.sni", &element);
    sni.private_key = required_path(r, t, "private_key", "tls.sni", &element);
    out.push_back(std::move(sni));
  }
}

void read_tls(const Reader& r, const toml::table& t, TlsSettings& s) {
  r.only_known(
      t, "tls",
      {"certificate", "private_key", "min_version", "ciphers", "ciphersuites", "groups", "sni"});
  if (t.get("certificate") || t.get("private_key")) {
    s.certificate = required_path(r, t, "certificate", "tls", &t);
    s.private_key = required_path(r, t, "private_key", "tls", &t);
  }
  if (auto n = t.get("min_version")) {
    const auto version = r.string(*n, "tls.min_version");
    if (version == "1.2") {
      s.min_version = TlsVersion::v1_2;
    } else if (version == "1.3") {
      s.min_version = TlsVersion::v1_3;
    } else {
      r.fail("tls.min_version", n,
             fmt::format("\"{}\" is not one of \"1.2\", \"1.3\" (older versions are unsafe)",
                         version));
    }
  }
  // Checked by OpenSSL when the server builds its TLS contexts (net::TlsContexts).
  if (auto n = t.get("ciphers")) s.ciphers = r.string(*n, "tls.ciphers");
  if (auto n = t.get("ciphersuites")) s.ciphersuites = r.string(*n, "tls.ciphersuites");
  if (auto n = t.get("groups")) s.groups = r.string(*n, "tls.groups");
  if (auto n = t.get("sni")) read_sni(r, *n, s.sni);
  if (!s.sni.empty() && s.certificate.empty()) {
    r.fail("tls.certificate", &t, "missing: [[tls.sni]] needs a default certificate too");
  }
}

// A TLS listener needs a certificate; name the listener so the fix is obvious.
void check_tls_listeners(const Reader& r, const Config& c) {
  for (const auto& listen : c.listen) {
    if (listen.tls == TlsMode::none || !c.tls.certificate.empty()) continue;
    r.fail("tls.certificate", nullptr,
           fmt::format("missing: listener {} has tls = \"{}\", which needs [tls] certificate and "
                       "private_key",
                       listen.text, tls_mode_name(listen.tls)));
  }
}

// Returns whether the template holds a per-user variable (%u, %n or %h).
bool check_maildir_template(const Reader& r, const toml::node* node, std::string_view text) {
  bool per_user = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (i + 1 == text.size()) r.fail("mail.maildir", node, "ends with a lone '%'");
    const char c = text[++i];
    if (c != 'u' && c != 'n' && c != 'd' && c != 'h' && c != '%') {
      r.fail("mail.maildir", node,
             fmt::format("unknown variable '%{}' (use %u, %n, %d, %h or %%)", c));
    }
    per_user = per_user || c == 'u' || c == 'n' || c == 'h';
  }
  return per_user;
}

void read_mail(const Reader& r, const toml::table& t, MailSettings& s) {
  r.only_known(t, "mail", {"maildir"});
  if (auto n = t.get("maildir")) {
    s.maildir = r.string(*n, "mail.maildir");
    if (!check_maildir_template(r, n, s.maildir)) {
      r.fail("mail.maildir", n,
             "must contain %u, %n or %h so that each user gets their own maildir");
    }
  }
}

std::string toml_string(const std::string& text) {
  std::ostringstream out;
  out << toml::value<std::string>(text);
  return out.str();
}

std::string toml_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += fmt::format("{}{}", i ? ", " : "", toml_string(items[i]));
  }
  return out + "]";
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  if (ec != std::errc{} || ptr == text.data() || value > 1'000'000'000) {
    throw std::invalid_argument(
        fmt::format("\"{}\" is not a duration like \"30s\", \"10m\" or \"500ms\"", text));
  }
  if (unit == "ms") return std::chrono::milliseconds(value);
  if (unit == "s") return std::chrono::seconds(value);
  if (unit == "m") return std::chrono::minutes(value);
  if (unit == "h") return std::chrono::hours(value);
  throw std::invalid_argument(
      fmt::format("\"{}\" has no unit: write it like \"30s\", \"10m\", \"1h\" or \"500ms\"", text));
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string_view tls_mode_name(TlsMode mode) {
  switch (mode) {
    case TlsMode::none: return "none";
    case TlsMode::starttls: return "starttls";
    case TlsMode::implicit: return "implicit";
  }
  return "none";
}

std::uint64_t parse_size(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  const auto bad = [text] {
    return std::invalid_argument(
        fmt::format("\"{}\" is not a size like \"0\", \"512k\", \"10M\" or \"1G\"", text));
  };
  if (ec != std::errc{} || ptr == text.data()) throw bad();
  if (unit.size() > 1 && (unit.back() == 'B' || unit.back() == 'b')) unit.remove_suffix(1);
  unsigned shift = 0;
  if (unit.empty() || unit == "B" || unit == "b") {
    shift = 0;
  } else if (unit == "k" || unit == "K") {
    shift = 10;
  } else if (unit == "M" || unit == "m") {
    shift = 20;
  } else if (unit == "G" || unit == "g") {
    shift = 30;
  } else if (unit == "T" || unit == "t") {
    shift = 40;
  } else {
    throw bad();
  }
  if (value > (UINT64_MAX >> shift)) throw bad();
  return value << shift;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  static constexpr std::array<std::pair<unsigned, char>, 4> units{
      {{40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'k'}}};
  for (const auto& [shift, letter] : units) {
    const std::uint64_t unit = std::uint64_t{1} << shift;
    if (bytes % unit == 0) return fmt::format("{}{}", bytes / unit, letter);
  }
  return fmt::format("{}", bytes);
}

ListenAddress parse_listen_address(std::string_view text) {
  ListenAddress result;
  result.text = std::string(text);
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) {
      throw std::invalid_argument(fmt::format("\"{}\" is not like \"[::1]:110\"", text));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      throw std::invalid_argument(fmt::format(
          "\"{}\" is not like \"127.0.0.1:110\" (write IPv6 addresses as \"[::1]:110\")", text));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || ptr != port.data() + port.size() || value > 65535) {
    throw std::invalid_argument(
        fmt::format("\"{}\": the port must be a number from 0 to 65535", text));
  }
  // Only IP literals: a name would be resolved once at start and silently go stale.
  const std::string host_text(host);
  in6_addr parsed{};
  const bool bracketed = text.starts_with('[');
  const bool valid = ::inet_pton(bracketed ? AF_INET6 : AF_INET, host_text.c_str(), &parsed) == 1;
  if (!valid) {
    throw std::invalid_argument(fmt::format(
        "\"{}\": the host must be an IP address such as 127.0.0.1, 0.0.0.0 or [::1]", text));
  }
  result.host = std::string(host);
  result.port = static_cast<std::uint16_t>(value);
  return result;
}

Config parse_config(std::string_view text, const std::filesystem::path& source) {
  const Reader r(source);
  toml::table root;
  try {
    root = toml::parse(text, source.string());
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}:{}: TOML syntax error: {}", source.string(),
                                  e.source().begin.line, e.source().begin.column, e.description()));
  }
  Config config;
  config.source = source;
  config.server.hostname = default_hostname();
  r.only_known(root, "",
               {"server", "listen", "lmtp", "auth", "mail", "delivery", "tls", "limits", "access"});
  if (auto n = root.get("limits")) read_limits(r, r.table(*n, "limits"), config.limits);
  if (auto n = root.get("access")) read_access(r, r.table(*n, "access"), config.access);
  if (auto n = root.get("server")) read_server(r, r.table(*n, "server"), config.server);
  if (auto n = root.get("listen")) read_listen(r, *n, config.listen);
  if (auto n = root.get("auth")) read_auth(r, r.table(*n, "auth"), config.auth);
  if (auto n = root.get("mail")) read_mail(r, r.table(*n, "mail"), config.mail);
  if (auto n = root.get("tls")) read_tls(r, r.table(*n, "tls"), config.tls);
  if (auto n = root.get("lmtp")) read_lmtp(r, *n, config.lmtp);
  if (auto n = root.get("delivery")) read_delivery(r, r.table(*n, "delivery"), config.delivery);

  if (config.listen.empty() && config.lmtp.empty()) {
    r.fail("listen", nullptr, "at least one [[listen]] (or [[lmtp]]) address is required");
  }
  if (config.auth.passwd_file.empty()) {
    r.fail("auth.passwd_file", nullptr, "missing: the path of the passwd-file with the users");
  }
  if (config.mail.maildir.empty()) {
    r.fail("mail.maildir", nullptr, "missing: the maildir template, e.g. \"/var/mail/%d/%n\"");
  }
  check_tls_listeners(r, config);
  return config;
}

Config load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw ConfigError(fmt::format("{}: cannot read the configuration file: {}", file.string(),
                                  std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), file);
}

std::string render_config(const Config& c) {
  std::string out = fmt::format("# effective settings of {}\n", c.source.string());
  out += "[server]\n";
  out += fmt::format("hostname = {}\n", toml_string(c.server.hostname));
  out += fmt::format("idle_timeout = \"{}\"\n", format_duration(c.server.idle_timeout));
  out += fmt::format("max_bad_commands = {}\n", c.server.max_bad_commands);
  out += fmt::format("max_auth_failures = {}\n", c.server.max_auth_failures);
  out += fmt::format("threads = {}\n", c.server.threads);
  if (!c.server.user.empty()) out += fmt::format("user = {}\n", toml_string(c.server.user));
  if (!c.server.group.empty()) out += fmt::format("group = {}\n", toml_string(c.server.group));
  for (const auto& l : c.listen) {
    out += "\n[[listen]]\n";
    out += fmt::format("address = \"{}\"\n", l.text);
    out += fmt::format("tls = \"{}\"\n", tls_mode_name(l.tls));
  }
  out += "\n[auth]\n";
  out += fmt::format("passwd_file = {}\n", toml_string(c.auth.passwd_file.string()));
  out += fmt::format("allow_plaintext = {}\n", c.auth.allow_plaintext);
  out += fmt::format("trusted_networks = {}\n", toml_list(c.auth.trusted_networks));
  out += fmt::format("failure_delay = \"{}\"\n", format_duration(c.auth.failure_delay));
  out += fmt::format("max_failure_delay = \"{}\"\n", format_duration(c.auth.max_failure_delay));
  out += fmt::format("block_after_failures = {}\n", c.auth.block_after_failures);
  out += fmt::format("block_window = \"{}\"\n", format_duration(c.auth.block_window));
  out += fmt::format("block_duration = \"{}\"\n", format_duration(c.auth.block_duration));
  out += fmt::format("cache_ttl = \"{}\"\n", format_duration(c.auth.cache_ttl));
  out += fmt::format("cache_size = {}\n", c.auth.cache_size);
  out += fmt::format("apop = {}\n", c.auth.apop);
  out += fmt::format("mechanisms = {}\n", toml_list(c.auth.mechanisms));
  if (c.auth.oauth) {
    out += "\n[auth.oauth]\n";
    out += fmt::format("public_key = {}\n", toml_string(c.auth.oauth->public_key.string()));
    out += fmt::format("issuer = {}\n", toml_string(c.auth.oauth->issuer));
    out += fmt::format("audience = {}\n", toml_string(c.auth.oauth->audience));
    out += fmt::format("user_claim = {}\n", toml_string(c.auth.oauth->user_claim));
  }
  out += "\n[limits]\n";
  out += fmt::format("connections = {}\n", c.limits.connections);
  out += fmt::format("connections_per_address = {}\n", c.limits.connections_per_address);
  out += fmt::format("sessions_per_user = {}\n", c.limits.sessions_per_user);
  out += "\n[access]\n";
  out += fmt::format("allow = {}\n", toml_list(c.access.allow));
  out += fmt::format("deny = {}\n", toml_list(c.access.deny));
  out += "\n[mail]\n";
  out += fmt::format("maildir = {}\n", toml_string(c.mail.maildir));
  for (const auto& l : c.lmtp) {
    out += "\n[[lmtp]]\n";
    out += fmt::format("address = {}\n", toml_string(l.text));
    if (l.is_unix) {
      out += fmt::format("mode = \"{:04o}\"\n", l.mode);
      if (!l.group.empty()) out += fmt::format("group = {}\n", toml_string(l.group));
    }
  }
  const auto& d = c.delivery;
  out += "\n[delivery]\n";
  out += fmt::format("quota_bytes = \"{}\"\n", format_size(d.quota_bytes));
  out += fmt::format("quota_messages = {}\n", d.quota_messages);
  out += fmt::format("quota_exceeded = \"{}\"\n",
                     d.quota_exceeded == QuotaExceeded::bounce ? "bounce" : "defer");
  out += fmt::format("max_message_size = \"{}\"\n", format_size(d.max_message_size));
  out += fmt::format("max_recipients = {}\n", d.max_recipients);
  out += fmt::format("local_part_fallback = {}\n", d.local_part_fallback);
  out += fmt::format("lmtp_clients = {}\n", toml_list(d.lmtp_clients));
  if (c.tls.certificate.empty()) return out;
  out += "\n[tls]\n";
  out += fmt::format("certificate = {}\n", toml_string(c.tls.certificate.string()));
  out += fmt::format("private_key = {}\n", toml_string(c.tls.private_key.string()));
  out +=
      fmt::format("min_version = \"{}\"\n", c.tls.min_version == TlsVersion::v1_3 ? "1.3" : "1.2");
  if (!c.tls.ciphers.empty()) out += fmt::format("ciphers = {}\n", toml_string(c.tls.ciphers));
  if (!c.tls.ciphersuites.empty()) {
    out += fmt::format("ciphersuites = {}\n", toml_string(c.tls.ciphersuites));
  }
  if (!c.tls.groups.empty()) out += fmt::format("groups = {}\n", toml_string(c.tls.groups));
  for (const auto& sni : c.tls.sni) {
    out += "\n[[tls.sni]]\n";
    out += fmt::format("server_name = {}\n", toml_string(sni.server_name));
    out += fmt::format("certificate = {}\n", toml_string(sni.certificate.string()));
    out += fmt::format("private_key = {}\n", toml_string(sni.private_key.string()));
  }
  return out;
}

}  // namespace postern::config
