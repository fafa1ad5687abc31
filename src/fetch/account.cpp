#include "fetch/account.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "auth/sasl/digest.hpp"
#include "config/config.hpp"
#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

// Names the place of a problem: "FILE:LINE: key 'account.key': problem" (config.cpp's style).
class Reader {
 public:
  explicit Reader(std::filesystem::path source) : source_(std::move(source)) {}

  [[noreturn]] void fail(std::string_view key, const toml::node* node,
                         std::string_view problem) const {
    const auto line = node ? node->source().begin.line : 0;
    if (line > 0) {
      throw FetchError(ErrorKind::config,
                       fmt::format("{}:{}: key '{}': {}", source_.string(), line, key, problem));
    }
    throw FetchError(ErrorKind::config,
                     fmt::format("{}: key '{}': {}", source_.string(), key, problem));
  }

  std::string string(const toml::node& node, std::string_view key) const {
    if (!node.is_string()) fail(key, &node, "expected a string");
    return std::string(**node.as_string());
  }

  bool boolean(const toml::node& node, std::string_view key) const {
    if (!node.is_boolean()) fail(key, &node, "expected true or false");
    return **node.as_boolean();
  }

  std::int64_t integer(const toml::node& node, std::string_view key, std::int64_t min,
                       std::int64_t max) const {
    if (!node.is_integer()) fail(key, &node, "expected a whole number");
    const auto value = **node.as_integer();
    if (value < min || value > max) {
      fail(key, &node, fmt::format("{} is out of range ({} to {})", value, min, max));
    }
    return value;
  }

  // A path: "~/" is the home folder; a relative path is taken from the accounts file's folder
  // (the result is absolute, since the journal must find it again from any working folder).
  std::filesystem::path path(const toml::node& node, std::string_view key,
                             const AccountEnvironment& env) const {
    const auto text = string(node, key);
    if (text.empty()) fail(key, &node, "must not be empty");
    std::filesystem::path p = env.expand(text);
    if (p.is_relative()) p = source_.parent_path() / p;
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(p, ec);
    return (ec ? p : absolute).lexically_normal();
  }

  // One of the words in `choices`; the message lists them.
  std::string choice(const toml::node& node, std::string_view key,
                     std::initializer_list<std::string_view> choices) const {
    const auto value = string(node, key);
    if (std::find(choices.begin(), choices.end(), value) != choices.end()) return value;
    std::string list;
    for (const auto c : choices) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", c);
    fail(key, &node, fmt::format("\"{}\" is not one of {}", value, list));
  }

 private:
  std::filesystem::path source_;
};

constexpr std::string_view account_keys[] = {"name",
                                             "host",
                                             "port",
                                             "tls",
                                             "allow_plaintext",
                                             "user",
                                             "password_command",
                                             "password_file",
                                             "password_env",
                                             "tls_fingerprint",
                                             "tls_ca_file",
                                             "insecure",
                                             "mode",
                                             "keep_days",
                                             "max_size",
                                             "oversize",
                                             "maildir",
                                             "mbox",
                                             "mda",
                                             "state_dir",
                                             "timeout"};

bool safe_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '@' || c == '+' || c == ':' || c == '-';
}

std::filesystem::path env_path(const char* name, const std::filesystem::path& fallback) {
  const char* value = std::getenv(name);
  // The XDG base directory specification: relative values are invalid and ignored.
  if (value != nullptr && value[0] == '/') return value;
  return fallback;
}

void check_unknown(const Reader& r, const toml::table& t) {
  for (const auto& [key, node] : t) {
    const std::string_view name = key.str();
    if (name == "password") {
      r.fail("account.password", &node,
             "a password is never stored in fetch.toml; use password_command (e.g. \"pass "
             "show mail/alice\"), password_file (a file only you can read) or password_env (the "
             "name of an environment variable)");
    }
    if (std::find(std::begin(account_keys), std::end(account_keys), name) ==
        std::end(account_keys)) {
      r.fail(fmt::format("account.{}", name), &node, "unknown setting (see docs/fetch.md)");
    }
  }
}

void read_password(const Reader& r, const toml::table& t, const toml::node& where,
                   const AccountEnvironment& env, Account& a) {
  int sources = 0;
  if (auto n = t.get("password_command")) {
    a.password = {PasswordSource::Kind::command, r.string(*n, "account.password_command")};
    if (a.password.value.empty()) r.fail("account.password_command", n, "must not be empty");
    ++sources;
  }
  if (auto n = t.get("password_file")) {
    a.password = {PasswordSource::Kind::file, r.path(*n, "account.password_file", env).string()};
    ++sources;
  }
  if (auto n = t.get("password_env")) {
    a.password = {PasswordSource::Kind::env, r.string(*n, "account.password_env")};
    if (a.password.value.empty()) r.fail("account.password_env", n, "must not be empty");
    ++sources;
  }
  if (sources != 1) {
    r.fail("account.password_command", &where,
           sources == 0 ? "missing: set one of password_command, password_file or password_env"
                        : "set only one of password_command, password_file and password_env");
  }
}

void read_tls(const Reader& r, const toml::table& t, Account& a, const AccountEnvironment& env) {
  if (auto n = t.get("tls")) {
    const auto mode = r.choice(*n, "account.tls", {"implicit", "starttls", "none"});
    a.tls = mode == "implicit"   ? TlsMode::implicit
            : mode == "starttls" ? TlsMode::starttls
                                 : TlsMode::none;
  }
  a.port = a.tls == TlsMode::implicit ? 995 : 110;
  if (auto n = t.get("port"))
    a.port = static_cast<std::uint16_t>(r.integer(*n, "account.port", 1, 65535));
  if (auto n = t.get("allow_plaintext")) {
    a.allow_plaintext = r.boolean(*n, "account.allow_plaintext");
    if (a.allow_plaintext && a.tls != TlsMode::none) {
      r.fail("account.allow_plaintext", n, "only means something with tls = \"none\"");
    }
  }
  if (auto n = t.get("insecure")) a.insecure = r.boolean(*n, "account.insecure");
  if (auto n = t.get("tls_fingerprint")) {
    a.tls_fingerprint = parse_fingerprint(r.string(*n, "account.tls_fingerprint"));
    if (!a.tls_fingerprint) {
      r.fail("account.tls_fingerprint", n,
             "expected the certificate's SHA-256 as 64 hex digits, e.g. \"AB:CD:...\" (openssl "
             "x509 -noout -fingerprint -sha256)");
    }
    if (a.insecure) r.fail("account.tls_fingerprint", n, "conflicts with insecure = true");
  }
  if (auto n = t.get("tls_ca_file")) {
    a.tls_ca_file = r.path(*n, "account.tls_ca_file", env);
    if (a.insecure) r.fail("account.tls_ca_file", n, "conflicts with insecure = true");
  }
  if (a.tls == TlsMode::none) {
    for (const char* key : {"tls_fingerprint", "tls_ca_file", "insecure"}) {
      if (auto n = t.get(key)) {
        r.fail(fmt::format("account.{}", key), n, "has no effect with tls = \"none\"");
      }
    }
  }
}

void read_mode(const Reader& r, const toml::table& t, Account& a) {
  if (auto n = t.get("mode")) {
    a.mode = r.choice(*n, "account.mode", {"keep", "delete"}) == "keep" ? RemoteMode::keep
                                                                        : RemoteMode::remove;
  }
  if (auto n = t.get("keep_days")) {
    a.keep_days = static_cast<unsigned>(r.integer(*n, "account.keep_days", 1, 36500));
    if (a.mode != RemoteMode::keep) r.fail("account.keep_days", n, "needs mode = \"keep\"");
  }
  if (auto n = t.get("max_size")) {
    if (n->is_integer()) {
      a.max_size = static_cast<std::uint64_t>(r.integer(*n, "account.max_size", 1, INT64_MAX));
    } else {
      try {
        a.max_size = config::parse_size(r.string(*n, "account.max_size"));
      } catch (const std::invalid_argument& e) {
        r.fail("account.max_size", n, e.what());
      }
      if (*a.max_size == 0) r.fail("account.max_size", n, "must be more than 0");
    }
  }
  if (auto n = t.get("oversize")) {
    a.oversize = r.choice(*n, "account.oversize", {"skip", "headers"}) == "skip"
                     ? Oversize::skip
                     : Oversize::headers;
    if (!a.max_size) r.fail("account.oversize", n, "has no effect without max_size");
  }
  if (auto n = t.get("timeout")) {
    a.timeout = std::chrono::seconds(r.integer(*n, "account.timeout", 1, 3600));
  }
}

void read_delivery(const Reader& r, const toml::table& t, const toml::node& where,
                   const AccountEnvironment& env, Account& a) {
  int targets = 0;
  if (auto n = t.get("maildir")) {
    a.deliver = DeliverTo::maildir;
    a.deliver_path = r.path(*n, "account.maildir", env);
    ++targets;
  }
  if (auto n = t.get("mbox")) {
    a.deliver = DeliverTo::mbox;
    a.deliver_path = r.path(*n, "account.mbox", env);
    ++targets;
  }
  if (auto n = t.get("mda")) {
    a.deliver = DeliverTo::mda;
    a.mda_command = r.string(*n, "account.mda");
    if (a.mda_command.empty()) r.fail("account.mda", n, "must not be empty");
    ++targets;
  }
  if (targets > 1) r.fail("account.maildir", &where, "set only one of maildir, mbox and mda");
  if (targets == 0) {
    a.deliver = DeliverTo::maildir;
    a.deliver_path = env.home / "Maildir";
  }
  if (a.deliver != DeliverTo::mda && a.deliver_path.empty()) {
    r.fail(a.deliver == DeliverTo::mbox ? "account.mbox" : "account.maildir", &where,
           "must not be empty");
  }
}

Account read_account(const Reader& r, const toml::table& t, const toml::node& where,
                     const AccountEnvironment& env) {
  check_unknown(r, t);
  Account a;
  const auto* host = t.get("host");
  if (!host) r.fail("account.host", &where, "missing: the POP3 server's name or address");
  a.host = r.string(*host, "account.host");
  if (a.host.empty() || !is_safe_protocol_text(a.host) ||
      a.host.find_first_of(" /@[]") != std::string::npos) {
    r.fail("account.host", host, "expected a host name or IP address");
  }
  in6_addr v6{};
  if (a.host.find(':') != std::string::npos && ::inet_pton(AF_INET6, a.host.c_str(), &v6) != 1) {
    r.fail("account.host", host, "write the port as port = N, not in the host");
  }
  const auto* user = t.get("user");
  if (!user) r.fail("account.user", &where, "missing: the login name on the server");
  a.user = r.string(*user, "account.user");
  if (a.user.empty() || !is_safe_protocol_text(a.user)) {
    r.fail("account.user", user, "must be non-empty and without control characters");
  }
  read_tls(r, t, a, env);
  read_password(r, t, where, env, a);
  read_mode(r, t, a);
  read_delivery(r, t, where, env, a);
  a.name = state_name(a.user, a.host, a.port);
  if (auto n = t.get("name")) {
    a.name = r.string(*n, "account.name");
    if (a.name.empty() || a.name.starts_with('.') ||
        !std::all_of(a.name.begin(), a.name.end(), safe_name_char)) {
      r.fail("account.name", n, "use letters, digits and . _ @ + : - (it names a folder)");
    }
  }
  a.state_dir = env.state_dir_for(a.name);
  if (auto n = t.get("state_dir")) a.state_dir = r.path(*n, "account.state_dir", env);
  return a;
}

}  // namespace

std::string Account::label() const {
  return fmt::format("{}@{}", user, host);
}

AccountEnvironment AccountEnvironment::from_process() {
  AccountEnvironment env;
  const char* home = std::getenv("HOME");
  env.home = home != nullptr && home[0] != '\0' ? home : "/";
  env.state_home = env_path("XDG_STATE_HOME", env.home / ".local" / "state");
  env.config_home = env_path("XDG_CONFIG_HOME", env.home / ".config");
  return env;
}

std::filesystem::path AccountEnvironment::state_dir_for(std::string_view account_name) const {
  return state_home / "postern" / "fetch" / std::string(account_name);
}

std::filesystem::path AccountEnvironment::expand(std::string_view path) const {
  if (path == "~") return home;
  if (path.starts_with("~/")) return home / std::string(path.substr(2));
  return std::string(path);
}

std::string state_name(std::string_view user, std::string_view host, std::uint16_t port) {
  const std::string plain = fmt::format("{}@{}:{}", user, host, port);
  std::string out;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    const char c = plain[i];
    if (safe_name_char(c) && !(i == 0 && c == '.')) {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::optional<std::string> parse_fingerprint(std::string_view text) {
  if (text.starts_with("sha256:") || text.starts_with("SHA256:")) text.remove_prefix(7);
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    hex.push_back(c);
  }
  // Colons only between pairs: "AB:CD", never "A:BCD".
  if (text.find(':') != std::string_view::npos) {
    for (std::size_t i = 2; i < text.size(); i += 3) {
      if (text[i] != ':') return std::nullopt;
    }
  }
  if (hex.size() != 64) return std::nullopt;
  return auth::sasl::from_hex(hex);
}

std::vector<Account> parse_accounts(std::string_view text, const std::filesystem::path& source,
                                    const AccountEnvironment& env) {
  const Reader r(source);
  toml::table root;
  try {
    root = toml::parse(text, source.string());
  } catch (const toml::parse_error& e) {
    throw FetchError(ErrorKind::config,
                     fmt::format("{}:{}:{}: TOML syntax error: {}", source.string(),
                                 e.source().begin.line, e.source().begin.column, e.description()));
  }
  for (const auto& [key, node] : root) {
    if (key.str() != "account") {
      r.fail(key.str(), &node, "unknown setting (fetch.toml holds [[account]] tables)");
    }
  }
  const auto* accounts = root.get("account");
  if (!accounts) r.fail("account", nullptr, "no [[account]] in the file");
  if (!accounts->is_array_of_tables()) r.fail("account", accounts, "expected [[account]] tables");
  std::vector<Account> out;
  for (const auto& element : *accounts->as_array()) {
    Account account = read_account(r, *element.as_table(), element, env);
    for (const auto& other : out) {
      if (other.name == account.name) {
        r.fail("account.name", &element,
               fmt::format("a second account named \"{}\" (set name = \"...\" to tell them "
                           "apart)",
                           account.name));
      }
      if (other.state_dir == account.state_dir) {
        r.fail("account.state_dir", &element,
               fmt::format("{} is already the state folder of account \"{}\"",
                           account.state_dir.string(), other.name));
      }
    }
    out.push_back(std::move(account));
  }
  return out;
}

std::vector<Account> load_accounts(const std::filesystem::path& file,
                                   const AccountEnvironment& env) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw FetchError(
        ErrorKind::config,
        fmt::format("{}: cannot read the accounts file: {}{}", file.string(), std::strerror(err),
                    err == ENOENT ? " (write one with [[account]] tables, see "
                                    "docs/fetch.md, or give a pop3s://user@host URL)"
                                  : ""));
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_accounts(text.str(), file, env);
}

Account account_from_url(const FetchUrl& url, const AccountEnvironment& env) {
  Account a;
  a.host = url.host;
  a.port = url.port;
  a.user = url.user;
  a.tls = url.implicit_tls ? TlsMode::implicit : TlsMode::starttls;
  a.name = state_name(a.user, a.host, a.port);
  a.state_dir = env.state_dir_for(a.name);
  return a;
}

}  // namespace postern::fetch
