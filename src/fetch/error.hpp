// The one error type of postern fetch. Its kind decides the exit code and whether the next
// run may succeed where this one failed (temporary) or a person has to act (the others).
#pragma once

#include <stdexcept>
#include <string>

namespace postern::fetch {

enum class ErrorKind {
  failure,    // anything else: a protocol violation, a local delivery error (exit 1)
  temporary,  // unreachable server, timeout, [SYS/TEMP], [IN-USE], MDA exit 75 (exit 75)
  auth,       // the server refused the login, or no safe way to log in (exit 77)
  config,     // the account settings are wrong (exit 78)
};

class FetchError : public std::runtime_error {
 public:
  FetchError(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// sysexits codes for each kind (EX_TEMPFAIL, EX_NOPERM, EX_CONFIG).
inline int exit_code_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::temporary: return 75;
    case ErrorKind::auth: return 77;
    case ErrorKind::config: return 78;
    case ErrorKind::failure: break;
  }
  return 1;
}

}  // namespace postern::fetch
