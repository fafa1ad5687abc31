// The accounts postern fetch downloads from: read from fetch.toml ([[account]] tables, unknown
// keys refused with FILE:LINE) or made from the one-shot pop3s://user@host form. Everything the
// engine needs is resolved here (defaults, ~ expansion, the state folder), so nothing later
// reads the file or the environment again, except the password, fetched when it is needed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetch/url.hpp"

namespace postern::fetch {

enum class TlsMode { implicit, starttls, none };
enum class RemoteMode { keep, remove };  // "keep" / "delete"
enum class Oversize { skip, headers };
enum class DeliverTo { maildir, mbox, mda };

struct PasswordSource {
  enum class Kind { command, file, env, prompt };
  Kind kind = Kind::prompt;
  std::string value;  // the command, the file, the variable name
};

struct Account {
  std::string name;  // for messages and the default state folder
  std::string host;
  std::uint16_t port = 995;
  TlsMode tls = TlsMode::implicit;
  bool allow_plaintext = false;  // a password may cross an unprotected connection (tls none)
  std::string user;
  PasswordSource password;
  std::optional<std::string> tls_fingerprint;  // 32 raw bytes of the leaf's SHA-256
  std::filesystem::path tls_ca_file;           // empty: the system store
  bool insecure = false;                       // no certificate check at all
  RemoteMode mode = RemoteMode::keep;
  std::optional<unsigned> keep_days;      // keep mode: delete this long after the download
  std::optional<std::uint64_t> max_size;  // larger messages are skipped or fetched as headers
  Oversize oversize = Oversize::skip;
  DeliverTo deliver = DeliverTo::maildir;
  std::filesystem::path deliver_path;  // the Maildir or the mbox file
  std::string mda_command;             // run with /bin/sh -c
  std::filesystem::path state_dir;
  std::chrono::seconds timeout{60};  // connect, handshake and every read or write

  std::string label() const;  // "user@host" for messages
};

// Where defaults come from: tests pass their own, the program uses from_process().
struct AccountEnvironment {
  std::filesystem::path home;         // $HOME
  std::filesystem::path state_home;   // $XDG_STATE_HOME or ~/.local/state
  std::filesystem::path config_home;  // $XDG_CONFIG_HOME or ~/.config

  static AccountEnvironment from_process();
  std::filesystem::path default_config() const { return config_home / "postern" / "fetch.toml"; }
  std::filesystem::path state_dir_for(std::string_view account_name) const;
  // "~/x" -> home/x; other paths unchanged.
  std::filesystem::path expand(std::string_view path) const;
};

// "user@host:port" with characters outside [A-Za-z0-9._@+:-] (and a leading '.') written as
// %XX: a folder name that is unique per account and safe on any file system path.
std::string state_name(std::string_view user, std::string_view host, std::uint16_t port);

// Parses fetch.toml. Throws FetchError (config) as "FILE:LINE: key 'account.x': problem".
std::vector<Account> parse_accounts(std::string_view text, const std::filesystem::path& source,
                                    const AccountEnvironment& env);
std::vector<Account> load_accounts(const std::filesystem::path& file,
                                   const AccountEnvironment& env);

// "AB:CD:..." or "abcd..." (64 hex digits, optionally "sha256:" in front) -> 32 bytes; nullopt
// for anything else.
std::optional<std::string> parse_fingerprint(std::string_view text);

// The account for the one-shot form; the CLI fills in the rest (delivery, mode, password).
Account account_from_url(const FetchUrl& url, const AccountEnvironment& env);

}  // namespace postern::fetch
