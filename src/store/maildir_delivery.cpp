#include "store/maildir_delivery.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>

#include "store/maildir_layout.hpp"
#include "store/message_size.hpp"
#include "store/posix_io.hpp"
#include "store/unique_fd.hpp"

namespace postern::store {
namespace {

// Sets each delivery apart from others in this process within the same microsecond.
std::atomic<std::uint64_t> delivery_counter{0};

constexpr int max_name_attempts = 3;

// The two sizes the name carries: raw octets (,S=) and the CRLF form POP3 sends (,W=).
struct MessageSizes {
  std::uint64_t raw = 0;
  std::uint64_t crlf = 0;
};

MessageSizes sizes_of(std::span<const std::string_view> pieces) {
  MessageSizes sizes;
  CrlfSizeCounter crlf;
  for (const std::string_view piece : pieces) {
    sizes.raw += piece.size();
    crlf.feed(piece);
  }
  sizes.crlf = crlf.size();
  return sizes;
}

std::string make_unique_name(const MessageSizes& sizes) {
  timeval now{};
  ::gettimeofday(&now, nullptr);
  return fmt::format("{}.M{}P{}Q{}.{},S={},W={}", now.tv_sec, now.tv_usec, ::getpid(),
                     delivery_counter.fetch_add(1, std::memory_order_relaxed) + 1,
                     maildir_host_name(), sizes.raw, sizes.crlf);
}

// Removes the file in tmp/ on every path except the successful rename.
class TmpFileGuard {
 public:
  TmpFileGuard(int tmp_fd, const std::string& name) : tmp_fd_(tmp_fd), name_(name) {}
  TmpFileGuard(const TmpFileGuard&) = delete;
  TmpFileGuard& operator=(const TmpFileGuard&) = delete;
  ~TmpFileGuard() {
    if (armed_) ::unlinkat(tmp_fd_, name_.c_str(), 0);
  }
  void dismiss() noexcept { armed_ = false; }

 private:
  int tmp_fd_;
  const std::string& name_;
  bool armed_ = true;
};

// A fresh file in tmp/ under a unique name; returns the name.
std::string create_in_tmp(int tmp_fd, const std::filesystem::path& tmp_dir,
                          const MessageSizes& sizes, UniqueFd& fd) {
  for (int attempt = 1;; ++attempt) {
    std::string unique = make_unique_name(sizes);
    fd.reset(::openat(tmp_fd, unique.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                      0600));
    if (fd.valid()) return unique;
    // A clash means another host or a recycled pid; the next name differs in its counter.
    if (errno != EEXIST || attempt == max_name_attempts)
      throw errno_error(errno, "cannot create", tmp_dir / unique);
  }
}

}  // namespace

std::string deliver_to_maildir(const std::filesystem::path& maildir, std::string_view message) {
  return deliver_to_maildir(maildir, std::span<const std::string_view>(&message, 1));
}

std::string deliver_to_maildir(const std::filesystem::path& maildir,
                               std::span<const std::string_view> pieces) {
  ensure_maildir(maildir);
  // Folders opened once and never through a symlink, so the message cannot land elsewhere.
  const std::filesystem::path tmp_dir = maildir / maildir_tmp;
  const std::filesystem::path new_dir = maildir / maildir_new;
  const UniqueFd tmp_fd = open_directory(tmp_dir);
  const UniqueFd new_fd = open_directory(new_dir);
  UniqueFd fd;
  std::string unique = create_in_tmp(tmp_fd.get(), tmp_dir, sizes_of(pieces), fd);
  TmpFileGuard guard(tmp_fd.get(), unique);
  write_all(fd.get(), pieces, tmp_dir / unique);
  fsync_or_throw(fd.get(), tmp_dir / unique);
  if (::renameat(tmp_fd.get(), unique.c_str(), new_fd.get(), unique.c_str()) != 0)
    throw errno_error(errno, "cannot rename into", new_dir / unique);
  guard.dismiss();
  fsync_or_throw(new_fd.get(), new_dir);
  return unique;
}

}  // namespace postern::store
