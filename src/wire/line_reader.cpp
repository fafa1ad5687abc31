#include "wire/line_reader.hpp"

#include <cstring>
#include <utility>

namespace postern::wire {

void LineReader::feed(std::string_view bytes) {
  compact();
  if (discarding_) {  // nothing of an over-long line is ever kept
    const auto* lf = static_cast<const char*>(std::memchr(bytes.data(), '\n', bytes.size()));
    if (lf == nullptr) return;
    discarding_ = false;
    bytes.remove_prefix(static_cast<std::size_t>(lf - bytes.data()) + 1);
  }
  buffer_.append(bytes);
}

std::optional<Line> LineReader::next() {
  const auto start = consumed_ + scanned_;
  const char* base = buffer_.data();
  const void* found =
      start < buffer_.size() ? std::memchr(base + start, '\n', buffer_.size() - start) : nullptr;
  if (found == nullptr) {
    scanned_ = buffer_.size() - consumed_;
    if (buffered() >= max_line_) {  // cannot end within the limit any more
      discarding_ = true;
      buffer_.clear();
      consumed_ = scanned_ = 0;
      return Line{{}, true};
    }
    return std::nullopt;
  }
  const auto lf = static_cast<std::size_t>(static_cast<const char*>(found) - base);
  const auto line_start = consumed_;
  consumed_ = lf + 1;
  scanned_ = 0;
  if (lf + 1 - line_start > max_line_) return Line{{}, true};
  auto end = lf;
  if (end > line_start && buffer_[end - 1] == '\r') --end;
  return Line{buffer_.substr(line_start, end - line_start), false};
}

void LineReader::clear() {
  buffer_.clear();
  consumed_ = scanned_ = 0;
  discarding_ = false;
}

std::string LineReader::take_buffered() {
  compact();
  scanned_ = 0;
  return std::exchange(buffer_, {});
}

void LineReader::compact() {
  if (consumed_ == 0) return;
  buffer_.erase(0, consumed_);
  consumed_ = 0;
}

}  // namespace postern::wire
