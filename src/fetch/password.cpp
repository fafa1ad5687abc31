#include "fetch/password.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "fetch/error.hpp"
#include "fetch/subprocess.hpp"
#include "store/posix_io.hpp"

namespace postern::fetch {
namespace {

constexpr std::size_t max_password_output = 64 * 1024;

std::string first_line(std::string text) {
  const auto nl = text.find('\n');
  if (nl != std::string::npos) text.resize(nl);
  if (text.ends_with('\r')) text.pop_back();
  return text;
}

std::string read_all(int fd, std::size_t limit) {
  std::string out;
  char buf[4096];
  while (out.size() < limit) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string from_command(const std::string& command) {
  ShellProcess child = spawn_shell(command, false, true);
  std::string output = read_all(child.stdout_fd.get(), max_password_output);
  child.stdout_fd.reset();
  const int status = wait_for_exit(child.pid);
  if (status != 0) {
    throw FetchError(
        ErrorKind::failure,
        fmt::format("password_command \"{}\" failed with exit status {}", command, status));
  }
  return first_line(std::move(output));
}

std::string from_file(const std::string& file, std::string& warning) {
  store::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    throw FetchError(ErrorKind::config, fmt::format("cannot read the password file {}: {}", file,
                                                    std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && (st.st_mode & 077) != 0) {
    warning = fmt::format("the password file {} can be read by others (chmod 600 {})", file, file);
  }
  return first_line(read_all(fd.get(), max_password_output));
}

std::string from_terminal(std::string_view label) {
  store::UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty.valid() || ::isatty(STDIN_FILENO) == 0) {
    throw FetchError(ErrorKind::config,
                     "no password: use --password-file FILE, --password-command CMD or the "
                     "POSTERN_PASSWORD environment variable");
  }
  const std::string prompt = fmt::format("Password for {}: ", label);
  termios saved{};
  const bool have_termios = ::tcgetattr(tty.get(), &saved) == 0;
  if (have_termios) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  }
  [[maybe_unused]] auto written = ::write(tty.get(), prompt.data(), prompt.size());
  std::string line;
  char c = 0;
  while (line.size() < max_password_output && ::read(tty.get(), &c, 1) == 1 && c != '\n') {
    line.push_back(c);
  }
  if (have_termios) ::tcsetattr(tty.get(), TCSAFLUSH, &saved);
  written = ::write(tty.get(), "\n", 1);
  return first_line(std::move(line));
}

}  // namespace

std::string read_password(const PasswordSource& source, std::string_view account_label,
                          std::string& warning) {
  std::string password;
  switch (source.kind) {
    case PasswordSource::Kind::command: password = from_command(source.value); break;
    case PasswordSource::Kind::file: password = from_file(source.value, warning); break;
    case PasswordSource::Kind::env: {
      const char* value = std::getenv(source.value.c_str());
      if (value == nullptr) {
        throw FetchError(ErrorKind::config,
                         fmt::format("the environment variable {} is not set", source.value));
      }
      password = first_line(value);
      break;
    }
    case PasswordSource::Kind::prompt: password = from_terminal(account_label); break;
  }
  if (password.empty()) {
    throw FetchError(ErrorKind::config, fmt::format("the password for {} is empty", account_label));
  }
  // A CR or LF would end the PASS command early and smuggle in another one.
  if (password.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    throw FetchError(ErrorKind::config, "the password contains a control character");
  }
  return password;
}

}  // namespace postern::fetch
