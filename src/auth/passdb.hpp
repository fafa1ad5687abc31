// Passdb: where a user's stored secret comes from, and the check of a password against it.
// Implementations are blocking (file reads, password hashing); callers run them off the event loop.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::auth {

// One user's record, as a Dovecot passwd-file line holds it:
// user:{SCHEME}secret:uid:gid:gecos:home:shell:extra_fields
struct UserRecord {
  std::string user;
  std::string password;  // "{SCHEME}secret", a bare crypt hash, or empty (no password login)
  std::string uid;
  std::string gid;
  std::string gecos;
  std::string home;
  std::string shell;
  std::vector<std::string> extra;  // space-separated key=value fields, kept verbatim
};

enum class AuthStatus {
  ok,               // the password matches
  bad_credentials,  // unknown user or wrong password: the client hears [AUTH]
  temp_failure,     // the passdb could not be read: the client hears [SYS/TEMP]
};

struct AuthResult {
  AuthStatus status = AuthStatus::bad_credentials;
  std::string reason;                // for the log only, never sent to the client
  std::optional<UserRecord> record;  // set when status == ok
};

class Passdb {
 public:
  virtual ~Passdb() = default;
  // Thread-safe. May block for the duration of a password hash.
  virtual AuthResult verify(std::string_view user, std::string_view password) = 0;
  // Thread-safe lookup without a password (used by delivery and tools).
  virtual std::optional<UserRecord> lookup(std::string_view user) = 0;
};

}  // namespace postern::auth
