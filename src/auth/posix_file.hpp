// Small POSIX file helpers shared by the passwd-file reader and editor: an owning descriptor,
// a whole-file read and errno text. Internal to auth/; store/ keeps its own.
#pragma once

#include <string>
#include <utility>

namespace postern::auth {

// Owns one descriptor; a negative value means "none", so a failed open() can be wrapped as is.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  // For writers: close() can report a delayed write error, which a destructor would lose.
  int close_now();

 private:
  int fd_;
};

// Reads from fd until end of file. Throws std::system_error.
std::string read_to_end(int fd);

std::string errno_message(int error);

}  // namespace postern::auth
