// EINTR-safe wrappers over the POSIX calls store/ makes, and the one errno -> StoreErrc rule, so
// POP3 ([SYS/TEMP] or [SYS/PERM]) and delivery (4xx or 5xx) agree on what is worth retrying.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "store/maildrop.hpp"
#include "store/unique_fd.hpp"

namespace postern::store {

// Temporary for conditions an operator or time can clear (full disk, quota, I/O error, descriptor
// or memory exhaustion); permanent for the rest (permissions, a file where a folder should be).
StoreErrc errc_for_errno(int err) noexcept;

// "<action> <path>: <strerror>", e.g. "cannot open /var/mail/a/cur: Permission denied".
std::string errno_message(int err, std::string_view action, const std::filesystem::path& path);
StoreError errno_error(int err, std::string_view action, const std::filesystem::path& path);

// Opens a directory for *at() calls and fsync. The last component must not be a symlink.
UniqueFd open_directory(const std::filesystem::path& dir);

// read(2) retried on EINTR; 0 means end of file. Any failure is a temporary StoreError.
std::size_t read_some(int fd, std::span<char> buf, const std::filesystem::path& path);
// preadv2(RWF_NOWAIT) at the file position: only bytes already in the page cache. nullopt when
// none are (EAGAIN) or the file system cannot say (EOPNOTSUPP) or on any error: read_some() then.
std::optional<std::size_t> read_cached(int fd, std::span<char> buf);
// Opens NAME under DIR_FD (or an absolute path with AT_FDCWD) with openat2(RESOLVE_CACHED): fails
// with EAGAIN instead of blocking when the lookup needs the disk. Invalid UniqueFd on failure,
// errno set. O_CLOEXEC is added to flags.
UniqueFd open_cached(int dir_fd, const char* name, int flags);
// Writes everything, retrying short writes and EINTR.
void write_all(int fd, std::string_view data, const std::filesystem::path& path);
// The same for several pieces in order, with writev(2): nothing is copied to join them.
void write_all(int fd, std::span<const std::string_view> pieces, const std::filesystem::path& path);
void fsync_or_throw(int fd, const std::filesystem::path& path);
void fsync_directory(const std::filesystem::path& dir);

}  // namespace postern::store
