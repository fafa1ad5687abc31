#include "store/maildir_layout.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>

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

std::string maildir_host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  std::string host;
  for (const char* c = buf; *c != '\0'; ++c) {
    if (*c == '/')
      host += "\\057";
    else if (*c == ':')
      host += "\\072";
    else if (*c == ' ')
      host += "\\040";
    else
      host += *c;
  }
  return host;
}

std::optional<std::uint64_t> crlf_size_from_name(std::string_view file_name) {
  std::string_view fields = unique_name_of(file_name);
  const auto first_comma = fields.find(',');
  if (first_comma == std::string_view::npos) return std::nullopt;
  fields.remove_prefix(first_comma + 1);
  while (!fields.empty()) {
    const auto comma = fields.find(',');
    const std::string_view field = fields.substr(0, comma);
    fields = comma == std::string_view::npos ? std::string_view{} : fields.substr(comma + 1);
    if (!field.starts_with("W=") || field.size() == 2) continue;
    std::uint64_t value = 0;
    const auto* end = field.data() + field.size();
    const auto [ptr, ec] = std::from_chars(field.data() + 2, end, value);
    if (ec == std::errc{} && ptr == end) return value;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace postern::store
