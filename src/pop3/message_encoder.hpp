// MessageEncoder: a stored message (LF or CRLF line ends) to its RETR/TOP form on the wire.
// One pass: bare LF -> CRLF, dot-stuffing, a missing final CRLF added, and TOP's line limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::pop3 {

class MessageEncoder {
 public:
  // body_lines: TOP's limit on body lines after the header block; nullopt for RETR (everything).
  explicit MessageEncoder(std::optional<std::uint64_t> body_lines = std::nullopt);

  // Appends the encoded form of chunk to out. Returns false once TOP's limit is reached:
  // the caller stops reading the file then.
  bool feed(std::string_view chunk, std::string& out);
  // Appends the CRLF a message without a final newline needs, then the ".\r\n" terminator.
  void finish(std::string& out);

  // Octets of message content emitted, without dot-stuffing and terminator: equals the
  // message's LIST size after a complete RETR.
  std::uint64_t content_octets() const { return content_octets_; }

 private:
  void feed_whole(std::string_view chunk, std::string& out);
  void end_line(bool empty_line);
  void emit(std::string_view text, std::string& out);

  std::optional<std::uint64_t> body_lines_left_;
  bool limited_ = false;
  bool done_ = false;
  bool at_line_start_ = true;
  std::uint64_t line_length_ = 0;  // octets of the current line before its LF
  bool prev_cr_ = false;
  bool in_headers_ = true;
  bool any_byte_ = false;
  std::uint64_t content_octets_ = 0;
};

}  // namespace postern::pop3
