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
  return exit_usage;
}
