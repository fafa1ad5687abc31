#include "auth/posix_file.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>

namespace postern::auth {

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::close_now() {
  return ::close(std::exchange(fd_, -1));
}

std::string read_to_end(int fd) {
  std::string text;
  std::array<char, 16384> buffer{};
  for (;;) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got == 0) return text;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::system_error(errno, std::generic_category(), "read");
    text.append(buffer.data(), static_cast<std::size_t>(got));
  }
}

std::string errno_message(int error) {
  return std::error_code(error, std::generic_category()).message();
}

}  // namespace postern::auth
