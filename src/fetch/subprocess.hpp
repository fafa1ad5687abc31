// A shell command as a child process (password_command, the MDA), started with posix_spawn so
// that it is safe while other accounts' threads run. Pipes are close-on-exec in the parent, so
// one account's child never holds another's pipe open; SIGPIPE is default again in the child.
#pragma once

#include <sys/types.h>

#include <string>

#include "store/unique_fd.hpp"

namespace postern::fetch {

struct ShellProcess {
  pid_t pid = -1;
  store::UniqueFd stdin_fd;   // write end, when asked for
  store::UniqueFd stdout_fd;  // read end, when asked for
};

// Runs `/bin/sh -c command`. stdin/stdout not piped are inherited. Throws FetchError (failure).
ShellProcess spawn_shell(const std::string& command, bool pipe_stdin, bool pipe_stdout);

// SIGPIPE would kill the whole program when an MDA stops reading or a TLS peer goes away; the
// write then fails with EPIPE instead. Idempotent.
void ignore_sigpipe();

// Waits for the child; returns its exit status, or 128 + the signal that killed it.
int wait_for_exit(pid_t pid);

}  // namespace postern::fetch
