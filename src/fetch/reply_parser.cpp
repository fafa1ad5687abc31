#include "fetch/reply_parser.hpp"

#include <fmt/format.h>

#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

[[noreturn]] void protocol_error(std::string_view what) {
  throw FetchError(ErrorKind::failure, fmt::format("protocol error: {}", what));
}

// For messages only: the start of a line, with control characters shown as '?'.
std::string printable_prefix(std::string_view line) {
  std::string out;
  for (char c : line.substr(0, 80)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (line.size() > 80) out += "...";
  return out;
}

}  // namespace

std::optional<std::variant<StatusLine, Continuation>> parse_status_line(std::string_view line,
                                                                        bool sasl) {
  StatusLine status;
  std::string_view rest;
  if (line.starts_with("+OK") && (line.size() == 3 || line[3] == ' ')) {
    status.ok = true;
    rest = line.substr(3);
  } else if (line.starts_with("-ERR") && (line.size() == 4 || line[4] == ' ')) {
    rest = line.substr(4);
  } else if (sasl && line.starts_with('+') && (line.size() == 1 || line[1] == ' ')) {
    return Continuation{std::string(line.size() > 2 ? line.substr(2) : std::string_view{})};
  } else {
    return std::nullopt;
  }
  if (rest.starts_with(' ')) rest.remove_prefix(1);
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close != std::string_view::npos) {
      status.code = std::string(rest.substr(1, close - 1));
      rest.remove_prefix(close + 1);
      if (rest.starts_with(' ')) rest.remove_prefix(1);
    }
  }
  status.text = std::string(rest);
  return status;
}

void ReplyParser::feed(std::string_view bytes) {
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::size_t ReplyParser::discard_input() {
  const std::size_t dropped = buf_.size() - pos_;
  buf_.clear();
  pos_ = 0;
  return dropped;
}

ReplyEvent ReplyParser::next() {
  if (state_ == State::status) return status_line();
  return body();
}

ReplyEvent ReplyParser::status_line() {
  if (pos_ == buf_.size()) return NeedMore{};
  if (expected_.empty()) {
    protocol_error(fmt::format("the server sent a reply nobody asked for: \"{}\"",
                               printable_prefix(std::string_view(buf_).substr(pos_))));
  }
  const auto nl = buf_.find('\n', pos_);
  if (nl == std::string::npos) {
    if (buf_.size() - pos_ > max_line) protocol_error("status line too long");
    return NeedMore{};
  }
  std::string_view line(buf_.data() + pos_, nl - pos_);
  if (line.ends_with('\r')) line.remove_suffix(1);
  const ReplyKind kind = expected_.front();
  auto parsed = parse_status_line(line, kind == ReplyKind::sasl);
  if (!parsed) {
    protocol_error(fmt::format("expected +OK or -ERR, got \"{}\"", printable_prefix(line)));
  }
  advance(nl + 1 - pos_);
  if (auto* continuation = std::get_if<Continuation>(&*parsed)) {
    return std::move(*continuation);  // the AUTH exchange goes on: the expectation stays
  }
  auto& status = std::get<StatusLine>(*parsed);
  expected_.pop_front();
  if (kind == ReplyKind::multiline && status.ok) {
    // The body belongs to this reply; it is counted as pending until its terminator.
    expected_.push_front(ReplyKind::multiline);
    state_ = State::line_start;
  }
  return std::move(status);
}

ReplyEvent ReplyParser::body() {
  const std::size_t avail = buf_.size() - pos_;
  if (avail == 0) return NeedMore{};
  if (state_ == State::line_start) {
    if (buf_[pos_] == '.') {
      // ".\r\n" (or a bare ".\n") ends the body; any other leading dot was added by stuffing.
      if (avail < 2) return NeedMore{};
      const char second = buf_[pos_ + 1];
      if (second == '\r' && avail < 3) return NeedMore{};
      if (second == '\n' || (second == '\r' && buf_[pos_ + 2] == '\n')) {
        advance(second == '\n' ? 2 : 3);
        expected_.pop_front();
        state_ = State::status;
        return BodyEnd{};
      }
      advance(1);
    }
    state_ = State::in_line;
    if (pos_ == buf_.size()) return NeedMore{};
  }
  const auto nl = buf_.find('\n', pos_);
  if (nl != std::string::npos) {
    const std::size_t start = pos_;
    std::size_t end = nl + 1;
    if (nl > start && buf_[nl - 1] == '\r') {
      buf_[nl - 1] = '\n';  // CRLF -> LF in place: the view ends at the old CR
      end = nl;
    }
    advance(nl + 1 - pos_);
    state_ = State::line_start;
    return BodyData{std::string_view(buf_.data() + start, end - start)};
  }
  // No line end yet: hand out what we have, but keep a trailing CR, which may start a CRLF.
  std::size_t end = buf_.size();
  if (buf_.back() == '\r') --end;
  if (end == pos_) return NeedMore{};
  const std::size_t start = pos_;
  advance(end - start);
  return BodyData{std::string_view(buf_.data() + start, end - start)};
}

}  // namespace postern::fetch
