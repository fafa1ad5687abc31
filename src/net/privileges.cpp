#include "net/privileges.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace postern::net {
namespace {

[[noreturn]] void fail(std::string_view what) {
  throw std::runtime_error(
      fmt::format("cannot drop privileges: {}: {}", what, std::strerror(errno)));
}

}  // namespace

void drop_privileges(const std::string& user, const std::string& group) {
  if (user.empty()) return;
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found_user = nullptr;
  if (::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found_user) != 0 ||
      found_user == nullptr) {
    throw std::runtime_error(fmt::format("cannot drop privileges: no user named {}", user));
  }
  gid_t gid = pw.pw_gid;
  if (!group.empty()) {
    std::vector<char> group_buffer(16384);
    struct group gr {};
    struct group* found_group = nullptr;
    if (::getgrnam_r(group.c_str(), &gr, group_buffer.data(), group_buffer.size(), &found_group) !=
            0 ||
        found_group == nullptr) {
      throw std::runtime_error(fmt::format("cannot drop privileges: no group named {}", group));
    }
    gid = gr.gr_gid;
  }
  const uid_t uid = pw.pw_uid;
  if (::geteuid() != 0) {
    if (::geteuid() == uid) return;  // already that user: nothing to drop
    throw std::runtime_error(fmt::format(
        "cannot switch to user {}: not started as root (running as uid {})", user, ::geteuid()));
  }
  if (::setgroups(0, nullptr) != 0) fail("setgroups");
  if (::setresgid(gid, gid, gid) != 0) fail("setresgid");
  if (::setresuid(uid, uid, uid) != 0) fail("setresuid");
  if (uid != 0 && ::setuid(0) == 0) {
    throw std::runtime_error("cannot drop privileges: root could be regained after setresuid");
  }
}

}  // namespace postern::net
