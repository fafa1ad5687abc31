#include "store/maildir_new_mail.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>

#include <cerrno>
#include <string>

#include "store/maildir_layout.hpp"
#include "store/maildir_listing.hpp"
#include "store/posix_io.hpp"

namespace postern::store {
namespace {

// A name in new/ normally has no info part; one that does already says what it is, so keep it.
std::string cur_name_for(const std::string& new_name) {
  return new_name.find(':') == std::string::npos ? new_name + ":2," : new_name;
}

// Moves without ever replacing: a file already in cur/ under the target name is another message
// (a redelivery that reused a unique name), and overwriting it would lose it. On a clash the
// message gets a fresh unique name, and so its own UIDL.
bool move_without_replacing(int new_fd, const std::string& name, int cur_fd) {
  std::string target = cur_name_for(name);
  for (unsigned attempt = 1; attempt <= 100; ++attempt) {
    if (::renameat2(new_fd, name.c_str(), cur_fd, target.c_str(), RENAME_NOREPLACE) == 0)
      return true;
    if (errno != EEXIST) return false;
    const auto colon = name.find(':');
    const std::string unique = name.substr(0, colon);
    const std::string info = colon == std::string::npos ? ":2," : name.substr(colon);
    target = unique + ".dup" + std::to_string(attempt) + info;
  }
  errno = EEXIST;
  return false;
}

}  // namespace

bool move_new_to_cur(const std::filesystem::path& maildir, int cur_fd) {
  const std::filesystem::path new_dir = maildir / maildir_new;
  const UniqueFd new_fd = open_directory(new_dir);
  bool moved = false;
  for (const std::string& name : list_message_files(new_fd.get(), new_dir)) {
    if (move_without_replacing(new_fd.get(), name, cur_fd)) {
      moved = true;
    } else if (errno != ENOENT) {
      spdlog::warn("leaving mail in new/: {}", errno_message(errno, "cannot move", new_dir / name));
    }
  }
  return moved;
}

}  // namespace postern::store
