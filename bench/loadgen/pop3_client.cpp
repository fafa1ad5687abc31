// Pop3Client (see pop3_client.hpp).
#include "pop3_client.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "errors.hpp"

namespace postern::bench {
namespace {

constexpr std::size_t small_buffer = 4096;        // enough for replies; idle connections stay small
constexpr std::size_t large_buffer = 256 * 1024;  // RETR reads, as large as the server's writes
constexpr std::size_t max_line = 64 * 1024;

[[noreturn]] void wrong(std::string text) {
  throw BenchError(ErrorKind::wrong_data, text);
}
[[noreturn]] void broken(std::string text) {
  throw BenchError(ErrorKind::protocol, text);
}

bool parse_number(std::string_view text, std::uint64_t& out) {
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

// "n value" lines of LIST and UIDL.
std::pair<std::uint64_t, std::string_view> split_pair(std::string_view line,
                                                      std::string_view name) {
  const auto space = line.find(' ');
  std::uint64_t n = 0;
  if (space == std::string_view::npos || !parse_number(line.substr(0, space), n)) {
    broken(fmt::format("{}: malformed line \"{}\"", name, escape(line)));
  }
  return {n, line.substr(space + 1)};
}

// Where a received message first differs from the expected one, in words a person can act on.
// `received` starts at the first wrong octet; everything before it matched.
std::string describe_mismatch(const ExpectedMessage& message, std::uint64_t n, std::size_t at,
                              std::string_view received) {
  const std::string_view expected = message.stuffed;
  std::size_t line_start = 0;
  if (at > 0) {
    const auto lf = expected.rfind('\n', at - 1);
    if (lf != std::string_view::npos) line_start = lf + 1;
  }
  const auto line =
      std::count(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(at), '\n') + 1;
  const std::string where = fmt::format("RETR {} ({} message {})", n, message.user, message.index);
  if (at == line_start + 1 && expected[line_start] == '.' && expected[at] == '.') {
    // The server sent the line's own leading '.', where ".." was due.
    return fmt::format(
        "{}: line {} starts with '.' but was not dot-stuffed (expected \"{}\", got \".{}\")", where,
        line, escape(expected.substr(line_start, 20)), escape(received, 19));
  }
  if (at == line_start && received.substr(0, 3) == ".\r\n") {
    return fmt::format("{}: the response ended after {} of {} octets (line {}): message truncated",
                       where, at, expected.size(), line);
  }
  return fmt::format("{}: octet {} of {} (line {}) differs: expected \"{}\", got \"{}\"", where, at,
                     expected.size(), line, escape(expected.substr(at, 24)), escape(received, 24));
}

}  // namespace

std::string escape(std::string_view bytes, std::size_t max) {
  std::string out;
  for (const char c : bytes.substr(0, max)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  if (bytes.size() > max) out += "...";
  return out;
}

Pop3Client::Pop3Client(Connection& connection) : connection_(connection), buffer_(small_buffer) {}

asio::awaitable<void> Pop3Client::fill() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (end_ == buffer_.size() && begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
  const std::size_t n =
      co_await connection_.read_some(buffer_.data() + end_, buffer_.size() - end_);
  if (n == 0) {
    throw BenchError(ErrorKind::io, fmt::format("server closed the connection (unread: \"{}\")",
                                                escape({buffer_.data() + begin_, end_ - begin_})));
  }
  end_ += n;
}

asio::awaitable<std::string_view> Pop3Client::read_line() {
  std::size_t scanned = 0;
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const void* lf = std::memchr(start + scanned, '\n', end_ - begin_ - scanned);
    if (lf != nullptr) {
      const auto length = static_cast<std::size_t>(static_cast<const char*>(lf) - start);
      const std::string_view line(start, length);
      begin_ += length + 1;
      if (line.empty() || line.back() != '\r') {
        broken(fmt::format("reply line not ended by CRLF: \"{}\\n\"", escape(line)));
      }
      co_return line.substr(0, line.size() - 1);
    }
    scanned = end_ - begin_;
    if (scanned > max_line) broken(fmt::format("reply line longer than {} octets", max_line));
    co_await fill();
  }
}

asio::awaitable<std::string_view> Pop3Client::command(std::string_view line,
                                                      std::string_view name) {
  std::string_view reply;
  try {
    const std::string text = fmt::format("{}\r\n", line);
    co_await connection_.write_all(text);
    reply = co_await read_line();
  } catch (const BenchError& e) {
    throw BenchError(e.kind(), fmt::format("{}: {}", name, e.what()));
  }
  if (reply.substr(0, 3) != "+OK" || (reply.size() > 3 && reply[3] != ' ')) {
    broken(fmt::format("{}: expected +OK, got \"{}\"", name, escape(reply)));
  }
  co_return reply;
}

asio::awaitable<void> Pop3Client::greeting() {
  std::string_view line;
  try {
    line = co_await read_line();
  } catch (const BenchError& e) {
    throw BenchError(e.kind(), fmt::format("greeting: {}", e.what()));
  }
  if (line.substr(0, 3) != "+OK") broken(fmt::format("greeting: \"{}\"", escape(line)));
}

asio::awaitable<void> Pop3Client::login(std::string_view user, std::string_view password) {
  const std::string user_line = fmt::format("USER {}", user);
  co_await command(user_line, user_line);
  const std::string pass_line = fmt::format("PASS {}", password);
  const std::string pass_name = fmt::format("PASS (user {})", user);
  co_await command(pass_line, pass_name);
}

asio::awaitable<void> Pop3Client::check_stat(const ExpectedMaildrop& expected) {
  const std::string_view reply = co_await command("STAT", "STAT");
  std::uint64_t count = 0;
  std::uint64_t octets = 0;
  const std::string_view rest = reply.substr(std::min<std::size_t>(4, reply.size()));
  const auto space = rest.find(' ');
  const auto end = rest.find(' ', space == std::string_view::npos ? rest.size() : space + 1);
  if (space == std::string_view::npos || !parse_number(rest.substr(0, space), count) ||
      !parse_number(rest.substr(space + 1, end - space - 1), octets)) {
    broken(fmt::format("STAT: malformed reply \"{}\"", escape(reply)));
  }
  if (count != expected.count || octets != expected.octets) {
    wrong(
        fmt::format("STAT: the server says {} messages of {} octets; {}'s maildrop holds {} "
                    "messages of {} octets",
                    count, octets, expected.user, expected.count, expected.octets));
  }
}

asio::awaitable<std::vector<std::uint64_t>> Pop3Client::list(const ExpectedMaildrop& expected) {
  co_await command("LIST", "LIST");
  std::vector<std::uint64_t> sizes;
  sizes.reserve(expected.count);
  std::uint64_t sum = 0;
  for (;;) {
    const std::string_view line = co_await read_line();
    if (line == ".") break;
    const auto [n, value] = split_pair(line, "LIST");
    std::uint64_t size = 0;
    if (!parse_number(value, size))
      broken(fmt::format("LIST: malformed line \"{}\"", escape(line)));
    if (n != sizes.size() + 1) {
      wrong(fmt::format("LIST: line {} numbers message {}", sizes.size() + 1, n));
    }
    sizes.push_back(size);
    sum += size;
  }
  if (sizes.size() != expected.count || sum != expected.octets) {
    wrong(fmt::format("LIST: {} messages of {} octets in all; {}'s maildrop holds {} of {}",
                      sizes.size(), sum, expected.user, expected.count, expected.octets));
  }
  co_return sizes;
}

asio::awaitable<UidList> Pop3Client::uidl(const ExpectedMaildrop& expected) {
  co_await command("UIDL", "UIDL");
  UidList uids;
  uids.at.reserve(expected.count);
  for (;;) {
    const std::string_view line = co_await read_line();
    if (line == ".") break;
    const auto [n, uid] = split_pair(line, "UIDL");
    if (n != uids.at.size() + 1)
      wrong(fmt::format("UIDL: line {} numbers message {}", uids.at.size() + 1, n));
    const bool printable =
        std::all_of(uid.begin(), uid.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (uid.empty() || uid.size() > 70 || !printable) {
      wrong(fmt::format("UIDL {}: \"{}\" is not 1 to 70 printable characters", n, escape(uid)));
    }
    uids.at.emplace_back(uids.text.size(), uid.size());
    uids.text += uid;
  }
  if (uids.at.size() != expected.count) {
    wrong(fmt::format("UIDL: {} messages listed; {}'s maildrop holds {}", uids.at.size(),
                      expected.user, expected.count));
  }
  co_return uids;
}

void check_unique(const UidList& uids) {
  std::vector<std::pair<std::string_view, std::size_t>> sorted;  // (UID, message number)
  sorted.reserve(uids.at.size());
  for (std::size_t i = 0; i < uids.at.size(); ++i) {
    sorted.emplace_back(std::string_view(uids.text).substr(uids.at[i].first, uids.at[i].second),
                        i + 1);
  }
  std::sort(sorted.begin(), sorted.end());
  const auto same =
      std::adjacent_find(sorted.begin(), sorted.end(),
                         [](const auto& a, const auto& b) { return a.first == b.first; });
  if (same != sorted.end()) {
    wrong(fmt::format("UIDL {}: \"{}\" was used before, by message {}", same[1].second,
                      escape(same->first), same->second));
  }
}

asio::awaitable<const ExpectedMessage*> Pop3Client::identify(std::uint64_t n,
                                                             const ExpectedMaildrop& expected) {
  // The first line is "X-Bench-Id: USER INDEX\r\n"; read it without consuming it, because the
  // comparison below starts at the first octet.
  constexpr std::string_view prefix = "X-Bench-Id: ";
  const void* lf = nullptr;
  while ((lf = std::memchr(buffer_.data() + begin_, '\n', end_ - begin_)) == nullptr) {
    if (end_ - begin_ > 512) break;
    co_await fill();
  }
  const std::size_t length =
      lf == nullptr
          ? end_ - begin_
          : static_cast<std::size_t>(static_cast<const char*>(lf) - (buffer_.data() + begin_));
  const std::string_view first(buffer_.data() + begin_, length);
  std::string_view rest = first;
  std::uint64_t index = 0;
  bool ok = rest.substr(0, prefix.size()) == prefix;
  if (ok) {
    rest.remove_prefix(prefix.size());
    const auto space = rest.find(' ');
    ok = space != std::string_view::npos && rest.substr(0, space) == expected.user &&
         !rest.empty() && rest.back() == '\r' &&
         parse_number(rest.substr(space + 1, rest.size() - space - 2), index) && index >= 1 &&
         index <= expected.messages.size();
  }
  if (!ok) {
    wrong(
        fmt::format("RETR {}: the message starts with \"{}\", not with the X-Bench-Id line of "
                    "one of {}'s {} messages",
                    n, escape(first), expected.user, expected.messages.size()));
  }
  co_return &expected.messages[index - 1];
}

asio::awaitable<void> Pop3Client::compare_body(const ExpectedMessage& message, std::uint64_t n) {
  const std::string_view expected = message.stuffed;
  std::size_t at = 0;
  while (at < expected.size()) {
    if (begin_ == end_) co_await fill();
    const std::size_t chunk = std::min(end_ - begin_, expected.size() - at);
    const char* got = buffer_.data() + begin_;
    if (std::memcmp(got, expected.data() + at, chunk) != 0) {
      std::size_t i = 0;
      while (got[i] == expected[at + i]) ++i;
      wrong(describe_mismatch(message, n, at + i, {got + i, end_ - begin_ - i}));
    }
    at += chunk;
    begin_ += chunk;
  }
}

asio::awaitable<const ExpectedMessage*> Pop3Client::retr(std::uint64_t n,
                                                         const ExpectedMaildrop& expected) {
  const std::string line = fmt::format("RETR {}", n);
  co_await command(line, line);
  if (buffer_.size() < large_buffer) buffer_.resize(large_buffer);
  const ExpectedMessage* message = nullptr;
  try {
    message = co_await identify(n, expected);
    co_await compare_body(*message, n);
  } catch (const BenchError& e) {
    if (e.kind() != ErrorKind::io) throw;
    throw BenchError(e.kind(), fmt::format("{}: {}", line, e.what()));
  }
  co_return message;
}

asio::awaitable<void> Pop3Client::quit() {
  co_await command("QUIT", "QUIT");
}

}  // namespace postern::bench
