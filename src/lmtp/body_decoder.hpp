// BodyDecoder: the message text after DATA, as it arrives in pieces of any size: dot-unstuffing
// and CRLF -> LF done on the fly (the stored form), ending at CRLF "." CRLF (RFC 5321 4.5.2).
// Only CRLF ends a line here: a bare LF or CR is content, and "\n.\r\n" does not end the message
// (the SMTP smuggling class). Past the size limit nothing more is kept, but reading goes on to
// the end so that the reply lines up with the client's next command.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postern::lmtp {

class BodyDecoder {
 public:
  // max_octets: the most message octets (as sent, after unstuffing, CRLF counted as two) kept.
  explicit BodyDecoder(std::uint64_t max_octets) : max_octets_(max_octets) {}

  // Takes bytes up to and including the end-of-data line; returns how many it took. Bytes after
  // the end belong to the next command and are left to the caller.
  std::size_t feed(std::string_view bytes);

  bool finished() const { return state_ == State::done; }
  // More than max_octets arrived: message() is empty and the message must be refused.
  bool too_large() const { return octets_ > max_octets_; }
  // The message octets as sent (dot-unstuffed, CRLF line ends), counted even past the limit.
  std::uint64_t octets() const { return octets_; }
  // The message with LF line ends: what goes to the maildrop.
  std::string& message() { return message_; }

 private:
  enum class State {
    line_start,  // after CRLF, or at the very beginning
    dot,         // a '.' at line start, not yet known to be stuffing or the end
    dot_cr,      // ".\r" at line start
    middle,      // inside a line
    cr,          // a CR inside a line, not yet known to end it
    done,
  };

  void emit(char c, std::uint64_t wire_octets);
  void emit(std::string_view text);

  std::uint64_t max_octets_;
  std::uint64_t octets_ = 0;
  std::string message_;
  State state_ = State::line_start;
};

}  // namespace postern::lmtp
