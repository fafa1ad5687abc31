// postern's settings: the TOML file turned into typed, validated values, each with its default.
// Errors name the file, the key and the problem, so an administrator can fix them without guessing.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
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
};

struct AuthSettings {
  std::filesystem::path passwd_file;
  bool allow_plaintext = true;
};

struct MailSettings {
  std::string maildir;  // template: %u %n %d %h %%
};

struct Config {
  std::filesystem::path source;  // the file it came from
  ServerSettings server;
  std::vector<ListenAddress> listen;
  AuthSettings auth;
  MailSettings mail;
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

}  // namespace postern::config
