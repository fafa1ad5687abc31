// Delivery into an mbox file, mboxrd style: a "From MAILER-DAEMON <date>" line, every line that
// matches ^>*From  gets one more '>', a blank line after each message. The message is spooled
// first (so its length and SHA-256 are known), then appended under an fcntl lock plus a
// <mbox>.lock dotlock; the journal's intent records where it goes:
//   mbox <offset> <separator> <end> <sha256> <path>
// offset: the file's length before; separator: how many '\n' were added first so the previous
// message ends with a blank line; end: the length after; sha256: of the record itself.
// Reconciliation: bytes offset+separator..end hashing to sha256 mean delivered; otherwise a
// partial append that is a prefix of the spooled record is cut off (truncate to offset) and the
// message is fetched again. Anything else after offset is left alone (never destroy mail that
// may be someone else's), with a note.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "fetch/destination.hpp"

namespace postern::fetch {

// Streaming mboxrd quoting: feed LF text in any pieces; quoted text is appended to `out`.
class MboxrdQuoter {
 public:
  void feed(std::string_view text, std::string& out);
  // Ends the message: flushes a pending partial "From" prefix and makes sure the text ends with
  // a line end. Returns whether the text ended with '\n' before this call.
  void finish(std::string& out);

 private:
  bool at_line_start_ = true;
  bool matching_ = true;     // still possibly inside a ">*From " prefix
  std::size_t quotes_ = 0;   // '>' seen at the start of this line
  std::size_t matched_ = 0;  // characters of "From " matched after them
  bool empty_ = true;
  char last_ = '\n';
};

// "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n" for the given time (UTC, asctime form).
std::string mbox_from_line(std::int64_t unix_time);

std::unique_ptr<Destination> make_mbox_destination(const std::filesystem::path& mbox,
                                                   const std::filesystem::path& spool);

Reconciled reconcile_mbox(std::string_view detail, const std::filesystem::path& spool,
                          std::string& note);

// Holds an mbox locked: fcntl write lock on fd, then <mbox>.lock created with O_EXCL (holding
// "pid host"; a lock older than 5 minutes or of a dead process on this host is stale). A
// folder where no dotlock can be made (EACCES, EROFS) gets only the fcntl lock. Throws
// FetchError (temporary) if the mbox stays locked for `wait_seconds`.
class MboxLock {
 public:
  MboxLock(int fd, std::filesystem::path mbox, unsigned wait_seconds = 60);
  ~MboxLock();
  MboxLock(const MboxLock&) = delete;
  MboxLock& operator=(const MboxLock&) = delete;

 private:
  int fd_;
  std::filesystem::path dotlock_;
  bool have_dotlock_ = false;
};

}  // namespace postern::fetch
