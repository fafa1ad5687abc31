#include "store/maildir_layout.hpp"

#include <sys/stat.h>

#include <cerrno>

#include "store/posix_io.hpp"

namespace postern::store {
namespace {

constexpr mode_t private_dir_mode = 0700;

// 0 when dir exists afterwards, else the errno of the failing mkdir.
int make_directory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), private_dir_mode) == 0 || errno == EEXIST) return 0;
  return errno;
}

int make_directories(const std::filesystem::path& dir) {
  const int err = make_directory(dir);
  if (err != ENOENT) return err;
  const std::filesystem::path parent = dir.parent_path();
  if (parent.empty() || parent == dir) return err;
  if (const int parent_err = make_directories(parent); parent_err != 0) return parent_err;
  return make_directory(dir);
}

}  // namespace

void ensure_maildir(const std::filesystem::path& maildir) {
  for (const char* sub : {maildir_cur, maildir_new, maildir_tmp}) {
    const std::filesystem::path dir = maildir / sub;
    // The common case, an existing maildir, costs one failing mkdir per folder and nothing else.
    if (const int err = make_directories(dir); err != 0)
      throw errno_error(err, "cannot create", dir);
  }
}

}  // namespace postern::store
