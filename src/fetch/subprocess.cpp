#include "fetch/subprocess.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "fetch/error.hpp"

extern char** environ;

namespace postern::fetch {
namespace {

[[noreturn]] void spawn_error(int err, const std::string& command) {
  throw FetchError(ErrorKind::failure,
                   fmt::format("cannot run \"{}\": {}", command, std::strerror(err)));
}

// Frees the spawn attribute objects on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

ShellProcess spawn_shell(const std::string& command, bool pipe_stdin, bool pipe_stdout) {
  ignore_sigpipe();
  ShellProcess process;
  store::UniqueFd child_in;
  store::UniqueFd child_out;
  int fds[2];
  if (pipe_stdin) {
    if (::pipe2(fds, O_CLOEXEC) != 0) spawn_error(errno, command);
    child_in.reset(fds[0]);
    process.stdin_fd.reset(fds[1]);
  }
  if (pipe_stdout) {
    if (::pipe2(fds, O_CLOEXEC) != 0) spawn_error(errno, command);
    process.stdout_fd.reset(fds[0]);
    child_out.reset(fds[1]);
  }
  SpawnSetup setup;
  // dup2 clears close-on-exec on the child's copy only.
  if (pipe_stdin) posix_spawn_file_actions_adddup2(&setup.actions, child_in.get(), 0);
  if (pipe_stdout) posix_spawn_file_actions_adddup2(&setup.actions, child_out.get(), 1);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  const int err = ::posix_spawn(&process.pid, "/bin/sh", &setup.actions, &setup.attr,
                                const_cast<char* const*>(argv), environ);
  if (err != 0) spawn_error(err, command);
  return process;
}

int wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 127;
}

}  // namespace postern::fetch
