// The exclusive lock a POP3 session holds on its maildrop (RFC 1939 section 8): an flock on a file
// in the maildir, which excludes sessions in this process and in others, and dies with its holder.
#pragma once

#include <filesystem>
#include <string_view>

#include "store/unique_fd.hpp"

namespace postern::store {

class MaildropLock {
 public:
  // Never waits. Throws StoreError(in_use) when another session holds it, and another StoreError
  // when the lock file cannot be opened. user is only for the message.
  static MaildropLock acquire(const std::filesystem::path& maildir, std::string_view user);

 private:
  explicit MaildropLock(UniqueFd fd) : fd_(std::move(fd)) {}

  UniqueFd fd_;  // flock belongs to this open file description: closing it is the unlock
};

}  // namespace postern::store
