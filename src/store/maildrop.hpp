// Maildrop: the storage side of a POP3 session, as an interface the protocol core never looks
// behind. Maildir is the first backend; a PostgreSQL one is meant to slot in without touching
// src/pop3/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace postern::store {

// One message as POP3 sees it. size is the octet count of the message in CRLF form
// (every bare LF counted as CRLF, a final CRLF added when the file does not end in LF),
// which is exactly what RETR sends before dot-stuffing.
struct MessageInfo {
  std::string uidl;  // RFC 1939: 1..70 chars, each 0x21..0x7E; stable for the message's life
  std::uint64_t size = 0;
};

enum class StoreErrc {
  in_use,     // another session holds the maildrop lock: [IN-USE]
  temporary,  // try again later: [SYS/TEMP] (a vanished file, EIO, ENOSPC ...)
  permanent,  // will not fix itself: [SYS/PERM] (bad permissions, broken path ...)
};

class StoreError : public std::runtime_error {
 public:
  // sys_errno: the errno behind the failure, 0 when there is none (a lock held, a bad path).
  StoreError(StoreErrc code, const std::string& what, int sys_errno = 0)
      : std::runtime_error(what), code_(code), sys_errno_(sys_errno) {}
  StoreErrc code() const noexcept { return code_; }
  // Lets delivery tell a read-only maildrop from a full disk, which StoreErrc alone cannot.
  int sys_errno() const noexcept { return sys_errno_; }

 private:
  StoreErrc code_;
  int sys_errno_;
};

// Raw bytes of one message exactly as stored (LF or CRLF line ends); the POP3 core converts.
class MessageSource {
 public:
  virtual ~MessageSource() = default;
  // Fills up to buf.size() bytes; returns 0 at the end. Blocking; throws StoreError.
  virtual std::size_t read(std::span<char> buf) = 0;
  // Like read(), but only what can be had without waiting for a disk (the page cache): nullopt
  // when that is nothing or the source cannot tell, and then the caller uses read() where
  // blocking is allowed. Lets the event loop serve cached mail without a thread hand-off.
  virtual std::optional<std::size_t> read_cached(std::span<char>) { return std::nullopt; }
};

// An open maildrop: holds the exclusive lock until destroyed, and a snapshot of the messages
// taken at open time (mail delivered later appears only to the next session).
class Maildrop {
 public:
  virtual ~Maildrop() = default;  // releases the lock
  virtual const std::vector<MessageInfo>& messages() const = 0;
  // index is 0-based into messages(). Throws StoreError(temporary) when the file has vanished.
  virtual std::unique_ptr<MessageSource> open_message(std::size_t index) = 0;
  // open_message() when it can be done from the kernel's caches alone, without blocking: nullptr
  // otherwise and on any error (open_message() then does it the slow way and reports).
  virtual std::unique_ptr<MessageSource> open_message_cached(std::size_t) { return nullptr; }
  // Removes the given messages (0-based indexes) and makes the removal durable (directory fsync)
  // before returning. A message that is already gone counts as removed. Throws StoreError.
  virtual void commit_deletions(std::span<const std::size_t> indexes) = 0;
  // The message's file no longer has the size it was listed with (changed behind our back):
  // forget what is cached about it, so that the next session measures it again. Blocking; never
  // throws (a cache that cannot be updated is rebuilt later).
  virtual void forget_cached(std::size_t) {}
};

// Who the maildrop belongs to: the authenticated user name and the passwd-file home.
struct MaildropOwner {
  std::string user;  // already checked by auth::is_valid_username
  std::string home;  // may be empty
};

class MaildropStore {
 public:
  virtual ~MaildropStore() = default;
  // Opens and locks the owner's maildrop, creating an empty one if none exists.
  // Blocking (directory scan, index I/O). Throws StoreError (in_use when locked elsewhere).
  virtual std::unique_ptr<Maildrop> open(const MaildropOwner& owner) = 0;
};

}  // namespace postern::store
