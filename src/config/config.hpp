// postern's settings: the TOML file turned into typed, validated values, each with its default.
// Errors name the file, the key and the problem, so an administrator can fix them without guessing.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace postern::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class TlsMode { none, starttls, implicit };

struct ListenAddress {
  std::string text;  // as written, e.g. "[::1]:1110"
  std::string host;  // IP literal without brackets
  std::uint16_t port = 0;
  TlsMode tls = TlsMode::none;
};

struct ServerSettings {
  std::string hostname;  // default: the machine's host name
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(10);
  std::size_t max_bad_commands = 10;
  std::size_t max_auth_failures = 3;
  unsigned threads = 0;  // event-loop threads; 0 = one per core
  std::string user;      // when started as root: switch to this user after binding
  std::string group;     // and this group (default: the user's primary group)
};

// OAUTHBEARER / XOAUTH2: bearer tokens (JWT, RS256 or ES256) checked against one public key.
struct OAuthSettings {
  std::filesystem::path public_key;  // PEM "BEGIN PUBLIC KEY"
  std::string public_key_pem;        // its contents, read when the configuration is loaded
  std::string issuer;
  std::string audience;
  std::string user_claim = "email";
};

struct AuthSettings {
  std::filesystem::path passwd_file;
  bool allow_plaintext = false;
  // Networks whose peers may use USER/PASS without TLS. Checked as CIDR by net::PlaintextPolicy.
  std::vector<std::string> trusted_networks = {"127.0.0.0/8", "::1/128"};
  // Brute-force defence per client address; failure_delay 0 switches delay and refusal off.
  std::chrono::milliseconds failure_delay = std::chrono::seconds(2);
  std::chrono::milliseconds max_failure_delay = std::chrono::seconds(15);
  unsigned block_after_failures = 20;  // 0 = never refuse connections
  std::chrono::milliseconds block_window = std::chrono::minutes(10);
  std::chrono::milliseconds block_duration = std::chrono::minutes(15);
  // Verified passwords remembered (keyed hash, per process) so repeat logins skip the slow hash;
  // a changed secret in the passwd-file invalidates at once. 0s or 0 entries: off.
  std::chrono::milliseconds cache_ttl = std::chrono::hours(1);
  std::size_t cache_size = 100000;
  bool apop = false;  // APOP (RFC 1939): needs plaintext-equivalent secrets
  // SASL mechanisms AUTH may offer (upper case). The default works with every stored secret;
  // CRAM-MD5 and SCRAM need {PLAIN} or {SCRAM-SHA-256} secrets, so they are opt-in. With
  // [auth.oauth] and no explicit list, OAUTHBEARER and XOAUTH2 are added.
  std::vector<std::string> mechanisms = {"PLAIN", "LOGIN"};
  std::optional<OAuthSettings> oauth;
};

struct LimitSettings {  // 0 = unlimited
  std::size_t connections = 10000;
  std::size_t connections_per_address = 50;
  std::size_t sessions_per_user = 10;
};

// Checked as CIDR by net::AccessRules before the greeting; deny wins over allow.
struct AccessSettings {
  std::vector<std::string> allow;  // empty: everyone not denied
  std::vector<std::string> deny;
};

enum class TlsVersion { v1_2, v1_3 };

struct SniCertificate {
  std::string server_name;  // matched case-insensitively against the client's SNI
  std::filesystem::path certificate;
  std::filesystem::path private_key;
};

struct TlsSettings {
  std::filesystem::path certificate;  // PEM chain, leaf first; empty: no TLS configured
  std::filesystem::path private_key;
  TlsVersion min_version = TlsVersion::v1_2;
  std::string ciphers;       // TLS 1.2 cipher list, OpenSSL syntax; empty: OpenSSL's default
  std::string ciphersuites;  // TLS 1.3; empty: OpenSSL's default
  std::string groups;        // key exchange groups; empty: OpenSSL's default
  std::vector<SniCertificate> sni;
};

// An LMTP listener ([[lmtp]]): a TCP address or, when the address starts with '/', a unix socket.
struct LmtpListener {
  std::string text;            // as written
  bool is_unix = false;        //
  std::filesystem::path path;  // unix socket path (removed and re-created at start)
  std::string host;            // TCP: IP literal without brackets
  std::uint16_t port = 0;      // TCP
  unsigned mode = 0660;        // unix: permission bits of the socket file
  std::string group;           // unix: group of the socket file; empty: the server's group
};

enum class QuotaExceeded { bounce, defer };  // 552 5.2.2 / exit 77, or 452 4.2.2 / exit 75

// How mail is put into maildrops, by `postern deliver` and by the LMTP listener alike.
struct DeliverySettings {
  std::uint64_t quota_bytes = 0;  // server-wide default; 0 = unlimited; passwd-file fields override
  std::uint64_t quota_messages = 0;
  QuotaExceeded quota_exceeded = QuotaExceeded::bounce;
  std::uint64_t max_message_size = 50ull << 20;  // larger messages are refused (SIZE, 552 5.3.4)
  std::size_t max_recipients = 1000;             // per LMTP transaction (452 4.5.3 beyond)
  // A recipient "alice@example.org" with no such passwd-file user is looked up as "alice".
  bool local_part_fallback = true;
  // Peers a TCP LMTP listener accepts (CIDR); anyone else is refused before the greeting.
  std::vector<std::string> lmtp_clients = {"127.0.0.0/8", "::1/128"};
};

struct MailSettings {
  std::string maildir;  // template: %u %n %d %h %%
};

struct Config {
  std::filesystem::path source;  // the file it came from
  ServerSettings server;
  std::vector<ListenAddress> listen;
  std::vector<LmtpListener> lmtp;
  AuthSettings auth;
  MailSettings mail;
  DeliverySettings delivery;
  TlsSettings tls;
  LimitSettings limits;
  AccessSettings access;
};

// Reads and validates a config file. Throws ConfigError("FILE: KEY: problem").
Config load_config(const std::filesystem::path& file);
// The same from text; `source` names it in errors.
Config parse_config(std::string_view text, const std::filesystem::path& source);

// The effective settings (defaults filled in) as TOML that load_config accepts back.
std::string render_config(const Config& config);

// "500ms", "30s", "10m", "1h" -> milliseconds; throws std::invalid_argument otherwise.
std::chrono::milliseconds parse_duration(std::string_view text);
std::string format_duration(std::chrono::milliseconds duration);
// "host:port" or "[v6]:port" with an IP literal host.
ListenAddress parse_listen_address(std::string_view text);
std::string_view tls_mode_name(TlsMode mode);
// "0", "4096", "512k", "10M", "1G", "2T" (binary multiples, an optional trailing 'B') -> bytes;
// throws std::invalid_argument otherwise.
std::uint64_t parse_size(std::string_view text);
// The largest exact unit: 10485760 -> "10M", 1000 -> "1000".
std::string format_size(std::uint64_t bytes);

}  // namespace postern::config
