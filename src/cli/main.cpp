// postern: one program, several jobs. See docs/ and `postern --help`.
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  using namespace postern::cli;
  CLI::App app{"postern: a POP3 mail server that never loses a message"};
  app.set_version_flag("--version", std::string("postern ") + POSTERN_VERSION);
  app.require_subcommand(1);

  std::filesystem::path config_file = "/etc/postern/postern.toml";
  auto* serve = app.add_subcommand("serve", "Run the POP3 server in the foreground");
  serve->add_option("-c,--config", config_file, "Configuration file (TOML)")->capture_default_str();

  auto* check = app.add_subcommand("check-config",
                                   "Validate a configuration and print the effective settings");
  check->add_option("-c,--config", config_file, "Configuration file (TOML)")->capture_default_str();

  std::filesystem::path demo_dir = "demo-data";
  unsigned demo_port = 1110;
  unsigned demo_tls_port = 1995;
  auto* demo =
      app.add_subcommand("demo", "Create a demo user with sample mail and serve it on 127.0.0.1");
  demo->add_option("--dir", demo_dir, "Folder for the demo's users, mail and config")
      ->capture_default_str();
  demo->add_option("--port", demo_port, "Port on 127.0.0.1 (plain POP3 with STLS)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  demo->add_option("--tls-port", demo_tls_port, "Port on 127.0.0.1 for POP3 over TLS (POP3S)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));

  UserCommand user;
  auto* user_cmd = app.add_subcommand("user", "Manage the passwd-file");
  user_cmd->require_subcommand(1);
  for (const auto* action : {"add", "passwd", "del"}) {
    auto* sub = user_cmd->add_subcommand(
        action, std::string(action) == "add"
                    ? "Add a user (password read from the terminal or stdin)"
                : std::string(action) == "passwd" ? "Change a user's password"
                                                  : "Remove a user");
    sub->add_option("name", user.name, "User name")->required();
    sub->add_option("--passwd-file", user.passwd_file, "The passwd-file to edit");
    sub->add_option("-c,--config", user.config_file,
                    "Take the passwd-file from this configuration");
    if (std::string(action) != "del") {
      sub->add_option("--scheme", user.scheme, "Password hash scheme")
          ->check(CLI::IsMember({"yescrypt", "argon2id"}))
          ->capture_default_str();
    }
    sub->callback([&user, action] { user.action = action; });
  }
  auto* list = user_cmd->add_subcommand("list", "List the users");
  list->add_option("--passwd-file", user.passwd_file, "The passwd-file to read");
  list->add_option("-c,--config", user.config_file, "Take the passwd-file from this configuration");
  list->callback([&user] { user.action = "list"; });

  DeliverCommand deliver;
  auto* deliver_cmd = app.add_subcommand(
      "deliver", "Deliver one message from standard input into a user's maildrop (for the MTA)");
  deliver_cmd->add_option("-d,--user", deliver.user, "Recipient user (or address)")->required();
  deliver_cmd->add_option("-c,--config", deliver.config_file, "Configuration file (TOML)")
      ->default_val(config_file)
      ->capture_default_str();
  deliver_cmd->add_option("-f,--sender", deliver.sender,
                          "Envelope sender, for Return-Path (\"\" or \"<>\": null sender)");
  deliver_cmd->add_option("-a,--recipient", deliver.recipient,
                          "Original recipient address, for Delivered-To");

  FetchCommand fetch;
  auto* fetch_cmd = app.add_subcommand(
      "fetch", "Download mail from POP3 servers into a Maildir, an mbox or an MDA");
  fetch_cmd->add_option("target", fetch.targets,
                        "pop3s://user@host[:port] (TLS), pop3://user@host[:port] (STLS), or "
                        "names of accounts in the accounts file (default: all)");
  fetch_cmd->add_option("-c,--config", fetch.config_file,
                        "Accounts file (default ~/.config/postern/fetch.toml)");
  fetch_cmd->add_option("--to", fetch.to,
                        "One-shot: the Maildir to deliver into (created if "
                        "missing; default ~/Maildir)");
  fetch_cmd->add_option("--mbox", fetch.mbox, "One-shot: deliver into this mbox file instead");
  fetch_cmd->add_option("--mda", fetch.mda,
                        "One-shot: deliver through this command (message on stdin; exit 75 = "
                        "try later). At-least-once: a crash right after the command ran can "
                        "deliver that message again");
  fetch_cmd->add_flag("--keep", fetch.keep, "One-shot: leave the mail on the server (default)");
  fetch_cmd->add_flag("--delete", fetch.remove,
                      "One-shot: delete each message once it is "
                      "safely stored here");
  fetch_cmd->add_option("--password-file", fetch.password_file,
                        "One-shot: read the password from the first line of FILE");
  fetch_cmd->add_option("--password-command", fetch.password_command,
                        "One-shot: run CMD and use the first line it prints (else "
                        "$POSTERN_PASSWORD, else a prompt on the terminal)");
  fetch_cmd->add_flag("--no-tls", fetch.no_tls,
                      "One-shot, pop3:// only: no STLS, password in clear (trusted networks)");
  fetch_cmd->add_flag("--insecure", fetch.insecure,
                      "One-shot: do not verify the server's certificate (dangerous)");
  fetch_cmd->add_option("--tls-ca-file", fetch.tls_ca_file,
                        "One-shot: trust the CA certificates in this PEM file");
  fetch_cmd->add_option("--tls-fingerprint", fetch.tls_fingerprint,
                        "One-shot: accept only the certificate with this SHA-256 fingerprint");
  fetch_cmd->add_option("--state-dir", fetch.state_dir,
                        "One-shot: where to keep the UIDL state (default "
                        "~/.local/state/postern/fetch/USER@HOST:PORT)");
  fetch_cmd->add_option("--timeout", fetch.timeout, "One-shot: network timeout in seconds")
      ->check(CLI::Range(1, 3600));
  fetch_cmd->add_flag("-n,--dry-run", fetch.dry_run,
                      "List what would be fetched, skipped or deleted; change nothing");
  fetch_cmd->add_flag("-v,--verbose", fetch.verbose,
                      "Show the POP3 dialogue (passwords masked) on stderr");
  fetch_cmd->add_flag("-q,--quiet", fetch.quiet, "Print only errors");
  fetch_cmd->add_option("-j,--jobs", fetch.jobs, "Accounts fetched at the same time")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  fetch_cmd->footer(
      "Exit codes: 0 done (also when nothing was new), 1 an account failed, 64 usage, 75 "
      "temporary (server unreachable, MDA deferred: try again later), 77 login refused, 78 "
      "configuration error.\nA message is never lost and never stored twice, even if the run "
      "is killed at any moment (Maildir and mbox); with an MDA a message can arrive twice if "
      "the run dies right after the MDA accepted it. See docs/fetch.md.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  }

  setup_logging();
  if (serve->parsed()) return run_serve(config_file);
  if (check->parsed()) return run_check_config(config_file);
  if (demo->parsed()) return run_demo(demo_dir, demo_port, demo_tls_port);
  if (user_cmd->parsed()) return run_user(user);
  if (deliver_cmd->parsed()) return run_deliver(deliver);
  if (fetch_cmd->parsed()) return run_fetch(fetch);
  return exit_usage;
}
