#include "store/maildir_maildrop.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "store/file_message_source.hpp"
#include "store/maildir_index.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildir_listing.hpp"
#include "store/maildir_new_mail.hpp"
#include "store/posix_io.hpp"
#include "store/printable.hpp"

namespace postern::store {
namespace {

// The Maildir convention: a file in tmp/ untouched for 36 hours is a delivery that died before
// its rename (a killed MDA, a crash, a full disk) and will never complete. Removed at login, under
// the lock; a delivery in progress has a fresh time stamp. Failures only cost the clean-up.
void remove_stale_tmp_files(const std::filesystem::path& maildir) {
  const std::filesystem::path tmp_dir = maildir / maildir_tmp;
  try {
    const UniqueFd tmp_fd = open_directory(tmp_dir);
    const auto cutoff = std::chrono::system_clock::now() - stale_tmp_age;
    for (const std::string& name : list_message_files(tmp_fd.get(), tmp_dir)) {
      struct stat st {};
      if (::fstatat(tmp_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISREG(st.st_mode))
        continue;
      const auto modified = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
      if (modified < cutoff && ::unlinkat(tmp_fd.get(), name.c_str(), 0) == 0)
        spdlog::info("removed stale {}", printable((tmp_dir / name).native()));
    }
  } catch (const StoreError& e) {
    spdlog::warn("tmp/ not cleaned: {}", e.what());
  }
}

}  // namespace

std::unique_ptr<Maildrop> MaildirMaildrop::open(const std::filesystem::path& maildir,
                                                std::string_view user) {
  ensure_maildir(maildir);
  MaildropLock lock = MaildropLock::acquire(maildir, user);
  remove_stale_tmp_files(maildir);
  UniqueFd cur_fd = open_directory(maildir / maildir_cur);
  const bool took_new_mail = move_new_to_cur(maildir, cur_fd.get());
  Snapshot snapshot = take_snapshot(maildir, cur_fd.get(), took_new_mail);
  // cur_fd closes on return: most sessions list and leave, or sit idle (see cur_fd()).
  return std::unique_ptr<Maildrop>(
      new MaildirMaildrop(maildir, std::move(lock), took_new_mail, std::move(snapshot)));
}

MaildirMaildrop::MaildirMaildrop(std::filesystem::path maildir, MaildropLock lock,
                                 bool took_new_mail, Snapshot snapshot)
    : maildir_(std::move(maildir)),
      cur_dir_(maildir_ / maildir_cur),
      lock_(std::move(lock)),
      took_new_mail_(took_new_mail),
      messages_(std::move(snapshot.messages)),
      files_(std::move(snapshot.files)),
      file_of_(std::move(snapshot.file_of)),
      removed_(messages_.size()),
      forgotten_(messages_.size()) {}

std::unique_ptr<MessageSource> MaildirMaildrop::open_message(std::size_t index) {
  check_index(index);
  UniqueFd fd;
  int err = open_file(index, fd);
  if (err == ENOENT) {
    refresh_names({&index, 1});  // another reader may have renamed it to change its flags
    err = open_file(index, fd);
  }
  if (err == ENOENT)
    throw StoreError(StoreErrc::temporary,
                     fmt::format("message {} ({}) has vanished from the maildir", index + 1,
                                 messages_[index].uidl));
  if (err != 0) throw errno_error(err, "cannot open", file_path(index));
  return std::make_unique<FileMessageSource>(std::move(fd), file_path(index));
}

void MaildirMaildrop::commit_deletions(std::span<const std::size_t> indexes) {
  for (const std::size_t index : indexes) check_index(index);  // all or nothing on a caller's bug
  if (indexes.empty()) return;
  std::optional<StoreError> failure;
  const std::vector<std::size_t> moved = remove_files(indexes, failure);
  if (!moved.empty()) {
    refresh_names(moved);
    // Still missing after the refresh means already gone, which counts as removed.
    for (const std::size_t index : remove_files(moved, failure)) removed_[index] = true;
  }
  make_removals_durable();
  rewrite_index();
  if (failure) throw StoreError(*failure);
}

void MaildirMaildrop::check_index(std::size_t index) const {
  if (index >= messages_.size())
    throw std::out_of_range(
        fmt::format("message index {} outside maildrop of {} messages", index, messages_.size()));
}

int MaildirMaildrop::cur_fd() {
  if (!cur_fd_.valid()) cur_fd_ = open_directory(cur_dir_);
  return cur_fd_.get();
}

// 0 or the errno of openat. O_NOFOLLOW: a symlink swapped in must not lead out of the maildir.
int MaildirMaildrop::open_file(std::size_t index, UniqueFd& fd) {
  fd.reset(::openat(cur_fd(), files_.c_str(file_of_[index]), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  return fd.valid() ? 0 : errno;
}

std::unique_ptr<MessageSource> MaildirMaildrop::open_message_cached(std::size_t index) {
  check_index(index);
  if (!cur_fd_.valid()) {
    cur_fd_ = open_cached(AT_FDCWD, cur_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!cur_fd_.valid()) return nullptr;
  }
  UniqueFd fd = open_cached(cur_fd_.get(), files_.c_str(file_of_[index]), O_RDONLY | O_NOFOLLOW);
  if (!fd.valid()) return nullptr;
  return std::make_unique<FileMessageSource>(std::move(fd), file_path(index));
}

// Unlinks the files not yet removed; returns the indexes whose file was not under its known name.
// The first other failure goes to failure; the rest are still attempted.
std::vector<std::size_t> MaildirMaildrop::remove_files(std::span<const std::size_t> indexes,
                                                       std::optional<StoreError>& failure) {
  std::vector<std::size_t> missing;
  for (const std::size_t index : indexes) {
    if (removed_[index]) continue;
    if (::unlinkat(cur_fd(), files_.c_str(file_of_[index]), 0) == 0) {
      removed_[index] = true;
    } else if (errno == ENOENT) {
      missing.push_back(index);
    } else if (!failure) {
      failure = errno_error(errno, "cannot delete", file_path(index));
    }
  }
  return missing;
}

// Looks the given messages up again by unique name in one pass over cur/.
void MaildirMaildrop::refresh_names(std::span<const std::size_t> indexes) {
  std::unordered_map<std::string_view, std::size_t> wanted;
  for (const std::size_t index : indexes) wanted.emplace(unique_name(index), index);
  std::vector<std::pair<std::size_t, std::string>> found;  // applied after: wanted views files_
  for_each_message_file(cur_fd(), cur_dir_, [&](std::string_view name) {
    if (const auto it = wanted.find(unique_name_of(name)); it != wanted.end())
      found.emplace_back(it->second, name);
  });
  for (const auto& [index, name] : found) files_.rename(file_of_[index], name);
}

void MaildirMaildrop::make_removals_durable() {
  fsync_or_throw(cur_fd(), cur_dir_);
  // Without this a crash could resurrect in new/ a message we took from there and then deleted.
  if (took_new_mail_) fsync_directory(maildir_ / maildir_new);
}

void MaildirMaildrop::forget_cached(std::size_t index) {
  check_index(index);
  forgotten_[index] = true;
  rewrite_index();
}

void MaildirMaildrop::rewrite_index() const {
  std::vector<IndexEntry> entries;
  entries.reserve(messages_.size());
  for (std::size_t i = 0; i < messages_.size(); ++i)
    if (!removed_[i] && !forgotten_[i])
      entries.push_back({files_.name(file_of_[i]), messages_[i].size});
  // No stamp: the next open lists cur/ again, and measures whatever the index does not hold (our
  // own deletions just changed cur/; a forgotten message is not in the index).
  write_index(maildir_, entries, std::nullopt);
}

}  // namespace postern::store
