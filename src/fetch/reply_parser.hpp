// The POP3 client's reply reader, sans-I/O: bytes go in (feed), events come out (next). The
// client declares the reply each command will get (expect) in the order it sends the commands,
// so pipelined replies are read in sequence. A multi-line body comes out in pieces, unstuffed
// and with LF line ends, and is never held whole: memory stays flat for any message size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace postern::fetch {

enum class ReplyKind {
  single,     // +OK / -ERR, one line
  multiline,  // +OK then a dot-terminated body (LIST, UIDL, RETR, TOP, CAPA); -ERR has none
  sasl,       // AUTH: "+ challenge" lines until the final +OK / -ERR
};

struct NeedMore {};  // feed more bytes, then call next() again
struct StatusLine {
  bool ok = false;
  std::string code;  // RFC 2449 response code without brackets, e.g. "SYS/TEMP"; may be empty
  std::string text;  // the rest of the line after the code
};
struct Continuation {  // "+ text" during AUTH; the same reply goes on after the client answers
  std::string text;
};
struct BodyData {  // a piece of the body: dot-unstuffed, CRLF turned into LF
  std::string_view bytes;
};
struct BodyEnd {};  // the terminating "." line was read
using ReplyEvent = std::variant<NeedMore, StatusLine, Continuation, BodyData, BodyEnd>;

class ReplyParser {
 public:
  // Longest status or continuation line accepted (SASL challenges can be long; RFC 2449 asks
  // for 512 octets on status lines, but being strict here helps nobody).
  static constexpr std::size_t max_line = 64 * 1024;

  void expect(ReplyKind kind) { expected_.push_back(kind); }
  // Replies declared and not yet completely read.
  std::size_t pending() const { return expected_.size(); }

  void feed(std::string_view bytes);
  // The next event. A BodyData view stays valid until the next call to feed() or next().
  // Throws FetchError (failure) when the server breaks the protocol, e.g. sends a reply that
  // was not asked for or a status line that is neither +OK nor -ERR.
  ReplyEvent next();

  // After STLS: whatever the server sent before the handshake must not be read as protected
  // data (the CVE-2011-0411 class of injection). Returns how many bytes were dropped.
  std::size_t discard_input();
  // Octets consumed from the wire so far (for progress and statistics).
  std::uint64_t consumed() const { return consumed_; }

 private:
  enum class State { status, line_start, in_line };

  ReplyEvent status_line();
  ReplyEvent body();
  void advance(std::size_t n) {
    pos_ += n;
    consumed_ += n;
  }

  std::deque<ReplyKind> expected_;
  std::string buf_;
  std::size_t pos_ = 0;
  State state_ = State::status;
  std::uint64_t consumed_ = 0;
};

// One status line without its line end: "-ERR [SYS/TEMP] text" -> StatusLine{false, "SYS/TEMP",
// "text"}; "+ abc" -> Continuation{"abc"} when sasl is set. nullopt for anything else.
std::optional<std::variant<StatusLine, Continuation>> parse_status_line(std::string_view line,
                                                                        bool sasl);

}  // namespace postern::fetch
