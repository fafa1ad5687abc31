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

}  // namespace

bool move_new_to_cur(const std::filesystem::path& maildir, int cur_fd) {
  const std::filesystem::path new_dir = maildir / maildir_new;
  const UniqueFd new_fd = open_directory(new_dir);
  bool moved = false;
  for (const std::string& name : list_message_files(new_fd.get(), new_dir)) {
    if (::renameat(new_fd.get(), name.c_str(), cur_fd, cur_name_for(name).c_str()) == 0) {
      moved = true;
    } else if (errno != ENOENT) {
      spdlog::warn("leaving mail in new/: {}", errno_message(errno, "cannot move", new_dir / name));
    }
  }
  return moved;
}

}  // namespace postern::store
