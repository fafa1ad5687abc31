#include "pop3/message_encoder.hpp"

#include <cstring>

namespace postern::pop3 {

MessageEncoder::MessageEncoder(std::optional<std::uint64_t> body_lines)
    : body_lines_left_(body_lines), limited_(body_lines.has_value()) {}

void MessageEncoder::emit(std::string_view text, std::string& out) {
  out.append(text);
  content_octets_ += text.size();
}

// Called after each LF: decides whether the header block ended and counts TOP's body lines.
void MessageEncoder::end_line(bool empty_line) {
  if (in_headers_) {
    if (empty_line) in_headers_ = false;
    if (!in_headers_ && limited_ && *body_lines_left_ == 0) done_ = true;
  } else if (limited_) {
    if (--*body_lines_left_ == 0) done_ = true;
  }
  at_line_start_ = true;
  line_length_ = 0;
  prev_cr_ = false;
}

bool MessageEncoder::feed(std::string_view chunk, std::string& out) {
  if (done_) return false;
  out.reserve(out.size() + chunk.size() + chunk.size() / 32 + 16);
  std::size_t pos = 0;
  while (pos < chunk.size() && !done_) {
    any_byte_ = true;
    if (at_line_start_) {
      at_line_start_ = false;
      if (chunk[pos] == '.') out.push_back('.');  // stuffing: not part of the content size
    }
    const void* lf = std::memchr(chunk.data() + pos, '\n', chunk.size() - pos);
    const std::size_t run_end =
        lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - chunk.data()) : chunk.size();
    if (run_end > pos) {  // the bytes before the LF go out as they are
      const std::string_view run = chunk.substr(pos, run_end - pos);
      emit(run, out);
      line_length_ += run.size();
      prev_cr_ = run.back() == '\r';
    }
    if (!lf) break;
    // The CR of a CRLF may have arrived at the end of the previous chunk: prev_cr_ remembers it.
    const bool empty_line = line_length_ == 0 || (line_length_ == 1 && prev_cr_);
    emit(prev_cr_ ? std::string_view("\n") : std::string_view("\r\n"), out);
    pos = run_end + 1;
    end_line(empty_line);
  }
  return !done_;
}

void MessageEncoder::finish(std::string& out) {
  if (any_byte_ && !at_line_start_ && !done_) emit("\r\n", out);
  out.append(".\r\n");
}

}  // namespace postern::pop3
