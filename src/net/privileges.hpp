// Dropping root: after the listeners are bound, the server becomes an ordinary user so that
// mail is never read or written as root.
#pragma once

#include <string>

namespace postern::net {

// When running as root, switches to `user` (and `group`, or the user's primary group when empty):
// supplementary groups cleared, then gid, then uid, and checks that root cannot be regained.
// Does nothing when `user` is empty. Throws std::runtime_error naming the problem.
void drop_privileges(const std::string& user, const std::string& group);

}  // namespace postern::net
