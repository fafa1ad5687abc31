// `postern user add|passwd|del|list`: passwd-file maintenance, writing yescrypt or argon2id hashes.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "auth/passwd_file.hpp"
#include "auth/passwd_file_editor.hpp"
#include "auth/password_scheme.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"

namespace postern::cli {
namespace {

std::string read_line_from_terminal(const char* prompt) {
  std::cerr << prompt << std::flush;
  termios saved{};
  const bool tty = ::tcgetattr(STDIN_FILENO, &saved) == 0;
  if (tty) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Interactive: asked twice, without echo. Scripted: one line on stdin. Never on the command line,
// where `ps` would show it to every user of the machine.
std::string read_new_password() {
  if (::isatty(STDIN_FILENO)) {
    const auto first = read_line_from_terminal("New password: ");
    const auto second = read_line_from_terminal("Repeat password: ");
    if (first != second) throw std::runtime_error("the two passwords differ");
    return first;
  }
  std::string line;
  if (!std::getline(std::cin, line)) throw std::runtime_error("no password on standard input");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::filesystem::path resolve_passwd_file(const UserCommand& command) {
  if (command.passwd_file) return *command.passwd_file;
  if (command.config_file) return config::load_config(*command.config_file).auth.passwd_file;
  throw std::runtime_error("say which passwd-file: --passwd-file FILE or --config FILE");
}

std::string hash_new_password(const UserCommand& command) {
  const auto password = read_new_password();
  if (password.empty()) throw std::runtime_error("the password is empty");
  const auto scheme =
      command.scheme == "argon2id" ? auth::HashScheme::argon2id : auth::HashScheme::yescrypt;
  return auth::hash_password(password, scheme);
}

}  // namespace

int run_user(const UserCommand& command) {
  try {
    const auto file = resolve_passwd_file(command);
    if (command.action == "list") {
      for (const auto& name : auth::list_users(file)) std::cout << name << "\n";
    } else if (command.action == "add") {
      auth::add_user(file, command.name, hash_new_password(command));
      std::cerr << "added " << command.name << " to " << file.string() << "\n";
    } else if (command.action == "passwd") {
      auth::set_password(file, command.name, hash_new_password(command));
      std::cerr << "changed the password of " << command.name << " in " << file.string() << "\n";
    } else if (command.action == "del") {
      auth::remove_user(file, command.name);
      std::cerr << "removed " << command.name << " from " << file.string() << "\n";
    }
    return exit_ok;
  } catch (const config::ConfigError& e) {
    std::cerr << "postern: " << e.what() << "\n";
    return exit_config;
  } catch (const std::exception& e) {
    std::cerr << "postern: " << e.what() << "\n";
    return exit_failure;
  }
}

}  // namespace postern::cli
