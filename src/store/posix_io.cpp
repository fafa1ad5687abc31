#include "store/posix_io.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "store/printable.hpp"

namespace postern::store {

StoreErrc errc_for_errno(int err) noexcept {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EAGAIN:
    case EINTR:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case ESTALE:
    case ETIMEDOUT: return StoreErrc::temporary;
    default: return StoreErrc::permanent;
  }
}

std::string errno_message(int err, std::string_view action, const std::filesystem::path& path) {
  // generic_category().message() is thread-safe, unlike a bare strerror().
  return fmt::format("{} {}: {}", action, printable(path.native()),
                     std::generic_category().message(err));
}

StoreError errno_error(int err, std::string_view action, const std::filesystem::path& path) {
  return StoreError(errc_for_errno(err), errno_message(err, action, path));
}

UniqueFd open_directory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) throw errno_error(errno, "cannot open directory", dir);
  return fd;
}

std::size_t read_some(int fd, std::span<char> buf, const std::filesystem::path& path) {
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR)
      throw StoreError(StoreErrc::temporary, errno_message(errno, "cannot read", path));
  }
}

void write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    // write() returning 0 on a regular file means it cannot make progress: treat as an I/O error.
    if (n <= 0) throw errno_error(n < 0 ? errno : EIO, "cannot write", path);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void fsync_or_throw(int fd, const std::filesystem::path& path) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) throw errno_error(errno, "cannot fsync", path);
  }
}

void fsync_directory(const std::filesystem::path& dir) {
  const UniqueFd fd = open_directory(dir);
  fsync_or_throw(fd.get(), dir);
}

}  // namespace postern::store
