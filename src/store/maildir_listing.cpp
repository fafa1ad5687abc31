#include "store/maildir_listing.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>

#include "store/posix_io.hpp"

namespace postern::store {
namespace {

struct DirCloser {
  void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};
using DirStream = std::unique_ptr<DIR, DirCloser>;

// A fresh stream with its own read position, so repeated listings of one dir_fd do not interfere.
DirStream open_stream(int dir_fd, const std::filesystem::path& dir) {
  UniqueFd fd(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) throw errno_error(errno, "cannot open directory", dir);
  DirStream stream(::fdopendir(fd.get()));
  if (!stream) throw errno_error(errno, "cannot read directory", dir);
  static_cast<void>(fd.release());  // the stream owns it now
  return stream;
}

bool is_regular_file(DIR* stream, const dirent& entry) {
  if (entry.d_type == DT_REG) return true;
  if (entry.d_type != DT_UNKNOWN) return false;
  struct stat st {};
  return ::fstatat(::dirfd(stream), entry.d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode);
}

}  // namespace

void for_each_message_file(int dir_fd, const std::filesystem::path& dir,
                           const std::function<void(std::string_view)>& visit) {
  const DirStream stream = open_stream(dir_fd, dir);
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(stream.get());
    if (entry == nullptr) break;
    if (entry->d_name[0] == '.' || !is_regular_file(stream.get(), *entry)) continue;
    visit(std::string_view(entry->d_name));
  }
  if (errno != 0) throw errno_error(errno, "cannot read directory", dir);
}

std::vector<std::string> list_message_files(int dir_fd, const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for_each_message_file(dir_fd, dir, [&names](std::string_view name) { names.emplace_back(name); });
  return names;
}

}  // namespace postern::store
