#include "auth/passwd_file_editor.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <system_error>
#include <utility>

#include "auth/passwd_file.hpp"
#include "auth/posix_file.hpp"
#include "auth/username.hpp"

namespace postern::auth {

namespace {

constexpr mode_t new_file_mode = 0600;  // it holds password hashes

struct FileImage {
  std::vector<std::string> lines;
  mode_t mode = new_file_mode;
  std::optional<std::pair<uid_t, gid_t>> owner;  // unset for a file that does not exist yet
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Two `postern user add` run at once must not both read the old file and lose a user. flock()
// on the directory serialises them without leaving a lock file behind; the same descriptor then
// serves the directory fsync that makes the rename durable.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::filesystem::path& file) : dir_(open_parent(file)) {
    while (::flock(dir_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) fail(file, "cannot lock its directory");
    }
  }
  void sync(const std::filesystem::path& file) const {
    if (::fsync(dir_.get()) != 0) fail(file, "written, but the directory fsync failed");
  }

 private:
  static int open_parent(const std::filesystem::path& file) {
    const auto parent = file.parent_path();
    const int fd =
        ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail(file, "cannot open its directory");
    return fd;
  }
  [[noreturn]] static void fail(const std::filesystem::path& file, std::string_view what) {
    throw PasswdFileError(fmt::format("{}: {}: {}", file.string(), what, errno_message(errno)));
  }

  UniqueFd dir_;
};

// Renaming over a symlink would replace the link; edit the file it points at instead.
std::filesystem::path edit_target(const std::filesystem::path& file) {
  std::error_code error;
  if (!std::filesystem::is_symlink(file, error)) return file;
  auto target = std::filesystem::canonical(file, error);
  if (error) {
    throw PasswdFileError(fmt::format("cannot follow {}: {}", file.string(), error.message()));
  }
  return target;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    lines.emplace_back(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
  }
  return lines;
}

// nullopt when the file does not exist.
std::optional<FileImage> read_image(const std::filesystem::path& file) {
  const UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 && errno == ENOENT) return std::nullopt;
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
    throw PasswdFileError(fmt::format("cannot open {}: {}", file.string(), errno_message(errno)));
  }
  FileImage image;
  try {
    image.lines = split_lines(read_to_end(fd.get()));
  } catch (const std::system_error& e) {
    throw PasswdFileError(fmt::format("cannot read {}: {}", file.string(), e.code().message()));
  }
  image.mode = st.st_mode & 07777;
  image.owner.emplace(st.st_uid, st.st_gid);
  return image;
}

FileImage read_existing(const std::filesystem::path& file) {
  auto image = read_image(file);
  if (!image) throw PasswdFileError(fmt::format("passwd-file {} does not exist", file.string()));
  return std::move(*image);
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t wrote = ::write(fd, data.data(), data.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) throw_errno("write");
    data.remove_prefix(static_cast<std::size_t>(wrote));
  }
}

// O_EXCL with O_NOFOLLOW: never writes through a link someone planted at the temporary name.
int create_temporary(const std::filesystem::path& temporary) {
  constexpr int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::open(temporary.c_str(), flags, new_file_mode);
  if (fd < 0 && errno == EEXIST) {  // left over by a crashed run that had our pid
    ::unlink(temporary.c_str());
    fd = ::open(temporary.c_str(), flags, new_file_mode);
  }
  if (fd < 0) throw_errno("create " + temporary.string());
  return fd;
}

void write_temporary(const std::filesystem::path& temporary, const FileImage& image) {
  UniqueFd fd(create_temporary(temporary));
  if (::fchmod(fd.get(), image.mode) != 0) throw_errno("fchmod");
  // Keeps the server able to read a file that root edits; a non-root editor cannot, and need not.
  if (image.owner) static_cast<void>(::fchown(fd.get(), image.owner->first, image.owner->second));
  std::string text;
  for (const auto& line : image.lines) text.append(line).push_back('\n');
  write_all(fd.get(), text);
  if (::fsync(fd.get()) != 0) throw_errno("fsync");
  if (fd.close_now() != 0) throw_errno("close");
}

void write_image(const std::filesystem::path& file, const FileImage& image,
                 const DirectoryLock& directory) {
  auto temporary = file;
  temporary += fmt::format(".tmp.{}", ::getpid());
  try {
    write_temporary(temporary, image);
    if (::rename(temporary.c_str(), file.c_str()) != 0) throw_errno("rename");
  } catch (const std::system_error& e) {
    ::unlink(temporary.c_str());
    throw PasswdFileError(fmt::format("cannot write {}: {}", file.string(), e.what()));
  }
  directory.sync(file);
}

// Reads, changes and atomically rewrites the file, holding the directory lock throughout.
template <typename Change>
void edit(const std::filesystem::path& file, bool may_create, Change change) {
  const auto target = edit_target(file);
  const DirectoryLock lock(target);
  auto image = may_create ? read_image(target).value_or(FileImage{}) : read_existing(target);
  change(image);
  write_image(target, image, lock);
}

bool is_line_of(std::string_view line, std::string_view user) {
  try {
    const auto record = parse_passwd_line(line);
    return record && record->user == user;
  } catch (const PasswdFileError&) {
    return false;  // a malformed line belongs to nobody; it is kept as it is
  }
}

std::vector<std::string>::iterator find_user(FileImage& image, std::string_view user) {
  return std::find_if(image.lines.begin(), image.lines.end(),
                      [user](const std::string& line) { return is_line_of(line, user); });
}

void check_user_name(std::string_view user) {
  if (!is_valid_username(user)) {
    throw PasswdFileError(
        fmt::format("invalid user name {:?}: use 1-255 bytes without '/', '..', ':', spaces or "
                    "control characters",
                    user));
  }
  if (user.front() == '#') {
    throw PasswdFileError(
        fmt::format("invalid user name {:?}: a line starting with '#' is a comment", user));
  }
}

void check_stored_password(std::string_view stored) {
  if (stored.find_first_of(std::string_view(":\r\n\0", 4)) != std::string_view::npos) {
    throw PasswdFileError("the stored password cannot hold ':', a line break or a NUL byte");
  }
}

// Rewrites only the second field, so fields this code does not know survive byte for byte.
std::string with_password(std::string_view line, std::string_view stored) {
  const bool crlf = line.ends_with('\r');
  if (crlf) line.remove_suffix(1);
  const auto first = line.find(':');
  const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
  const auto tail = second == std::string_view::npos ? std::string_view{} : line.substr(second);
  return fmt::format("{}:{}{}{}", line.substr(0, first), stored, tail, crlf ? "\r" : "");
}

std::string not_found(std::string_view user, const std::filesystem::path& file) {
  return fmt::format("user {} not found in {}", user, file.string());
}

}  // namespace

void add_user(const std::filesystem::path& file, std::string_view user,
              std::string_view stored_password) {
  check_user_name(user);
  check_stored_password(stored_password);
  edit(file, true, [&](FileImage& image) {
    if (find_user(image, user) != image.lines.end()) {
      throw PasswdFileError(fmt::format("user {} already exists in {}", user, file.string()));
    }
    image.lines.push_back(fmt::format("{}:{}", user, stored_password));
  });
}

void set_password(const std::filesystem::path& file, std::string_view user,
                  std::string_view stored_password) {
  check_stored_password(stored_password);
  edit(file, false, [&](FileImage& image) {
    const auto line = find_user(image, user);
    if (line == image.lines.end()) throw PasswdFileError(not_found(user, file));
    *line = with_password(*line, stored_password);
  });
}

void remove_user(const std::filesystem::path& file, std::string_view user) {
  edit(file, false, [&](FileImage& image) {
    if (std::erase_if(image.lines, [user](const auto& line) { return is_line_of(line, user); }) ==
        0) {
      throw PasswdFileError(not_found(user, file));
    }
  });
}

std::vector<std::string> list_users(const std::filesystem::path& file) {
  std::vector<std::string> users;
  for (const auto& line : read_existing(file).lines) {
    try {
      if (auto record = parse_passwd_line(line)) users.push_back(std::move(record->user));
    } catch (const PasswdFileError&) {
      // check-config reports bad lines; a listing shows the users that can log in
    }
  }
  return users;
}

}  // namespace postern::auth
