#include "store/maildrop_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>

#include <cerrno>

#include "store/maildir_layout.hpp"
#include "store/posix_io.hpp"

namespace postern::store {

MaildropLock MaildropLock::acquire(const std::filesystem::path& maildir, std::string_view user) {
  const std::filesystem::path path = maildir / maildir_lock_file;
  // O_NOFOLLOW: a planted symlink must not make us create or lock a file elsewhere.
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) throw errno_error(errno, "cannot open lock file", path);
  int rc = 0;
  while ((rc = ::flock(fd.get(), LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc == 0) return MaildropLock(std::move(fd));
  if (errno == EWOULDBLOCK)
    throw StoreError(StoreErrc::in_use,
                     fmt::format("maildrop of {} is locked by another session", user));
  throw errno_error(errno, "cannot lock", path);
}

}  // namespace postern::store
