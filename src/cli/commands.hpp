// The subcommands of the postern program, each a function that returns the process exit code.
// main.cpp only parses the command line; the work happens here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace postern::cli {

// sysexits-style codes an administrator's scripts can tell apart.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 64;
inline constexpr int exit_nouser = 67;       // deliver: no such user (the MTA bounces)
inline constexpr int exit_unavailable = 69;  // cannot bind, cannot start
inline constexpr int exit_cantcreat = 73;    // deliver: the maildir cannot be created or written
inline constexpr int exit_ioerr = 74;        // deliver: an I/O error that will not fix itself
inline constexpr int exit_tempfail = 75;     // deliver: try again later (the MTA defers)
inline constexpr int exit_noperm = 77;       // deliver: over quota or too large (the MTA bounces)
inline constexpr int exit_config = 78;       // the configuration is wrong

void setup_logging();

int run_serve(const std::filesystem::path& config_file);
int run_check_config(const std::filesystem::path& config_file);
int run_demo(const std::filesystem::path& data_dir, unsigned port, unsigned tls_port);

struct UserCommand {
  std::string action;  // add, passwd, del, list
  std::string name;
  std::optional<std::filesystem::path> passwd_file;
  std::optional<std::filesystem::path> config_file;
  std::string scheme = "yescrypt";
};
int run_user(const UserCommand& command);

struct DeliverCommand {
  std::filesystem::path config_file;
  std::string user;                      // passwd-file user or address (local-part fallback)
  std::optional<std::string> sender;     // -f: Return-Path; "" or "<>" is the null sender
  std::optional<std::string> recipient;  // -a: Delivered-To
};
// Delivers one message from stdin; returns a sysexits code (docs/configuration.md, [delivery]).
int run_deliver(const DeliverCommand& command);

struct FetchCommand {
  std::vector<std::string> targets;  // one pop3s://user@host[:port] URL, or account names
  std::optional<std::filesystem::path> config_file;
  // The one-shot form's settings (a URL target); accounts from the file have their own keys.
  std::optional<std::filesystem::path> to;  // Maildir
  std::optional<std::filesystem::path> mbox;
  std::optional<std::string> mda;
  bool keep = false;
  bool remove = false;  // --delete
  bool no_tls = false;
  bool insecure = false;
  std::optional<std::string> password_file;
  std::optional<std::string> password_command;
  std::optional<std::filesystem::path> state_dir;
  std::optional<std::filesystem::path> tls_ca_file;
  std::optional<std::string> tls_fingerprint;
  std::optional<unsigned> timeout;  // seconds
  // Both forms.
  bool dry_run = false;
  bool verbose = false;
  bool quiet = false;
  unsigned jobs = 4;
};
// Downloads mail from POP3 servers (docs/fetch.md); returns 0, 1, 64, 75, 77 or 78.
int run_fetch(const FetchCommand& command);

}  // namespace postern::cli
