// LineReader: turns a command stream (POP3, LMTP) into lines, one at a time, with bounded memory.
// A line longer than the limit is reported once as too long and its bytes are dropped up to its
// LF. LMTP takes the bytes back out after DATA (take_buffered); POP3 drops them after STLS (clear).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postern::wire {

struct Line {
  std::string text;       // without the CRLF (or bare LF)
  bool too_long = false;  // text is empty; the rest of the line up to LF is being discarded
};

class LineReader {
 public:
  // max_line counts the octets of the line including its CRLF (RFC 5321: 512; RFC 2449: 255).
  explicit LineReader(std::size_t max_line) : max_line_(max_line) {}

  void feed(std::string_view bytes);
  std::optional<Line> next();

  // Bytes held that do not yet form a complete line.
  std::size_t buffered() const { return buffer_.size() - consumed_; }
  // Hands out every byte held and forgets it: after DATA they are message content.
  std::string take_buffered();
  // Drops everything buffered: after STLS, nothing sent in the clear may run under TLS.
  void clear();
  void set_max_line(std::size_t max_line) { max_line_ = max_line; }

 private:
  void compact();

  std::size_t max_line_;
  std::string buffer_;
  std::size_t consumed_ = 0;  // bytes of buffer_ already handed out
  std::size_t scanned_ = 0;   // bytes of buffer_ known to hold no LF (from consumed_)
  bool discarding_ = false;   // inside an over-long line: drop bytes up to the next LF
};

}  // namespace postern::wire
