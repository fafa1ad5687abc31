// Maildir fixtures: plain open/write/close, no fsync, one pass; 100,000 files in seconds (the
// Python harness's add_message fsyncs each file, which takes minutes at that count).
#include "fixture.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace postern::bench {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, std::string_view what) {
  throw std::runtime_error(fmt::format("{}: {}: {}", path.string(), what, std::strerror(errno)));
}

struct Owner {
  uid_t uid;
  gid_t gid;
};

std::optional<Owner> lookup_owner(const std::optional<std::string>& name) {
  if (!name) return std::nullopt;
  const passwd* entry = ::getpwnam(name->c_str());
  if (entry == nullptr)
    throw std::runtime_error(fmt::format("--owner: no system user '{}'", *name));
  return Owner{entry->pw_uid, entry->pw_gid};
}

void make_dir(const std::filesystem::path& path, const std::optional<Owner>& owner) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) fail(path, "cannot create");
  if (owner && ::chown(path.c_str(), owner->uid, owner->gid) != 0) fail(path, "cannot chown");
}

void write_file(const std::filesystem::path& path, const std::string& data,
                const std::optional<Owner>& owner) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "cannot create");
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail(path, "cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (owner && ::fchown(fd, owner->uid, owner->gid) != 0) {
    ::close(fd);
    fail(path, "cannot chown");
  }
  if (::close(fd) != 0) fail(path, "cannot write");
}

}  // namespace

std::size_t write_fixture(const FixtureOptions& options) {
  const auto owner = lookup_owner(options.owner);
  make_dir(options.root, owner);
  std::size_t files = 0;
  for (const auto& user : options.users) {
    const auto maildir = options.root / user;
    make_dir(maildir, owner);
    for (const char* sub : {"tmp", "new", "cur"}) make_dir(maildir / sub, owner);
    for (const auto& spec : mail_for(options.set, user, options.params)) {
      const std::string text = message_text(spec);
      std::string name = message_file_name(spec.index);
      if (options.size_in_name) {
        const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
        name += fmt::format(",S={},W={}", text.size(), text.size() + lines);
      }
      const auto path = options.in_cur ? maildir / "cur" / (name + ":2,") : maildir / "new" / name;
      write_file(path, text, owner);
      ++files;
    }
  }
  return files;
}

}  // namespace postern::bench
