// Atomic delivery into a Maildir (demo, tests, `postern deliver`, LMTP): a message is visible
// only when complete and durable: written in tmp/, fsynced, renamed into new/, new/ fsynced.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace postern::store {

// Creates the maildir (tmp/, new/, cur/; mode 0700) if missing and delivers message into new/ as
// "<secs>.M<usecs>P<pid>Q<n>.<host>,S=<raw size>,W=<POP3 size>", n a process-wide counter and host
// the host name with '/' and ':' written as \057 and \072. Returns that unique name. Throws
// StoreError, temporary for ENOSPC, EDQUOT, EIO and the like (see errc_for_errno), else permanent.
std::string deliver_to_maildir(const std::filesystem::path& maildir, std::string_view message);

// The same for a message made of pieces written back to back (e.g. per-recipient headers in front
// of a body shared by every recipient), so the body is never copied. The ,S= and ,W= sizes in the
// name are those of the whole message.
std::string deliver_to_maildir(const std::filesystem::path& maildir,
                               std::span<const std::string_view> pieces);

}  // namespace postern::store
