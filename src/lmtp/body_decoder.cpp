#include "lmtp/body_decoder.hpp"

#include <cstring>

namespace postern::lmtp {

void BodyDecoder::emit(char c, std::uint64_t wire_octets) {
  octets_ += wire_octets;
  if (octets_ <= max_octets_) {
    message_.push_back(c);
  } else if (!message_.empty()) {
    std::string().swap(message_);  // refused anyway: give the memory back now
  }
}

void BodyDecoder::emit(std::string_view text) {
  octets_ += text.size();
  if (octets_ <= max_octets_) {
    message_.append(text);
  } else if (!message_.empty()) {
    std::string().swap(message_);
  }
}

std::size_t BodyDecoder::feed(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size() && state_ != State::done) {
    if (state_ == State::middle) {
      // The common case: plain text up to the next CR goes over in one piece.
      const auto* start = bytes.data() + pos;
      const auto* cr = static_cast<const char*>(std::memchr(start, '\r', bytes.size() - pos));
      const auto length = cr == nullptr ? bytes.size() - pos : static_cast<std::size_t>(cr - start);
      emit(std::string_view(start, length));
      pos += length;
      if (cr == nullptr) break;
      state_ = State::cr;
      ++pos;
      continue;
    }
    const char c = bytes[pos++];
    switch (state_) {
      case State::line_start:
        if (c == '.') {
          state_ = State::dot;
        } else if (c == '\r') {
          state_ = State::cr;
        } else {
          emit(c, 1);
          state_ = State::middle;
        }
        break;
      case State::dot:  // the '.' was stuffing unless ".\r\n" follows
        if (c == '\r') {
          state_ = State::dot_cr;
        } else {
          emit(c, 1);
          state_ = State::middle;
        }
        break;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::done;
        } else {  // ".\rX": a stuffed line starting with a bare CR
          state_ = State::cr;
          --pos;
        }
        break;
      case State::cr:
        if (c == '\n') {
          emit('\n', 2);
          state_ = State::line_start;
        } else if (c == '\r') {
          emit('\r', 1);  // the first CR was bare: content; the second may still end the line
        } else {
          emit('\r', 1);
          emit(c, 1);
          state_ = State::middle;
        }
        break;
      case State::middle:
      case State::done: break;
    }
  }
  return pos;
}

}  // namespace postern::lmtp
