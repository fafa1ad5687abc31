#include "store/message_size.hpp"

namespace postern::store {

void CrlfSizeCounter::feed(std::string_view chunk) {
  if (chunk.empty()) return;
  crlf_bytes_ += chunk.size();
  for (auto lf = chunk.find('\n'); lf != std::string_view::npos; lf = chunk.find('\n', lf + 1)) {
    const char before = lf == 0 ? last_ : chunk[lf - 1];
    if (before != '\r') ++crlf_bytes_;  // this LF goes out as CRLF
  }
  last_ = chunk.back();
}

std::uint64_t CrlfSizeCounter::size() const {
  if (crlf_bytes_ == 0) return 0;
  return last_ == '\n' ? crlf_bytes_ : crlf_bytes_ + 2;
}

}  // namespace postern::store
