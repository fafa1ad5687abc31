#include "net/privileges.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace postern::net {
namespace {

// Runs body in a forked child (dropping privileges cannot be undone) and returns its exit code.
template <class Body>
int in_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

TEST(DropPrivileges, EmptyUserChangesNothing) {
  const auto uid = ::getuid();
  drop_privileges("", "");
  EXPECT_EQ(::getuid(), uid);
}

TEST(DropPrivileges, UnknownUserIsAClearError) {
  try {
    drop_privileges("no-such-user-postern", "");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-user-postern"), std::string::npos);
  }
}

TEST(DropPrivileges, RootBecomesNobodyForGood) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const int code = in_child([] {
    try {
      drop_privileges("nobody", "nogroup");
    } catch (...) {
      return 1;
    }
    if (::getuid() == 0 || ::geteuid() == 0 || ::getgid() == 0) return 2;
    if (::setuid(0) == 0) return 3;
    gid_t groups[4];
    if (::getgroups(4, groups) != 0) return 4;  // supplementary groups cleared
    return 0;
  });
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace postern::net
