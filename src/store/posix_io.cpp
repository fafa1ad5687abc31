#include "store/posix_io.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
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
  return StoreError(errc_for_errno(err), errno_message(err, action, path), err);
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
    if (const int err = errno; err != EINTR)
      throw StoreError(StoreErrc::temporary, errno_message(err, "cannot read", path), err);
  }
}

std::optional<std::size_t> read_cached(int fd, std::span<char> buf) {
  iovec vec{buf.data(), buf.size()};
  for (;;) {
    const ssize_t n = ::preadv2(fd, &vec, 1, -1, RWF_NOWAIT);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return std::nullopt;
  }
}

UniqueFd open_cached(int dir_fd, const char* name, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_CACHED;
  for (;;) {
    const long fd = ::syscall(SYS_openat2, dir_fd, name, &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno != EINTR) return UniqueFd();
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

void write_all(int fd, std::span<const std::string_view> pieces,
               const std::filesystem::path& path) {
  // At most max_iov (well under IOV_MAX) pieces per call; a short write leaves its tail in `rest`.
  constexpr std::size_t max_iov = 64;
  std::array<iovec, max_iov> iov{};
  std::size_t next = 0;   // first piece not yet (fully) written
  std::string_view rest;  // the unwritten tail of pieces[next - 1], if any
  while (next < pieces.size() || !rest.empty()) {
    std::size_t count = 0;
    const auto add = [&](std::string_view piece) {
      if (piece.empty()) return;
      // writev never writes through the pointer; iovec merely lacks a const member.
      iov[count].iov_base = const_cast<char*>(piece.data());
      iov[count].iov_len = piece.size();
      ++count;
    };
    add(rest);
    std::size_t taken = next;
    while (taken < pieces.size() && count < max_iov) add(pieces[taken++]);
    if (count == 0) return;
    const ssize_t n = ::writev(fd, iov.data(), static_cast<int>(count));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw errno_error(n < 0 ? errno : EIO, "cannot write", path);
    // Walk the written bytes forward over rest and the pieces just handed to writev.
    auto written = static_cast<std::size_t>(n);
    const auto consume = [&written](std::string_view piece) {
      const std::size_t used = std::min(written, piece.size());
      written -= used;
      return piece.substr(used);
    };
    rest = consume(rest);
    while (rest.empty() && next < taken) rest = consume(pieces[next++]);
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
