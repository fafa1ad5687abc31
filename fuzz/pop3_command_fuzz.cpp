// Fuzzes the bytes-to-command path of POP3 and the RETR/TOP encoding of a stored message:
// wire::LineReader must cut the same lines whatever the read sizes, and the lines a reference
// reading of RFC 1939 framing gives; pop3::parse_command and parse_number must agree with the
// rules their header states; pop3::MessageEncoder must give the wire form a plain reference
// encoder gives, whatever the read sizes, with a content size equal to store::CrlfSizeCounter's
// (what LIST reports must be what RETR sends).
//
// Input: byte 0 picks the read size (1 + b % 64) and TOP's line count (b % 4); the rest is both
// the client's byte stream and a stored message.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "pop3/command.hpp"
#include "pop3/message_encoder.hpp"
#include "store/message_size.hpp"
#include "wire/line_reader.hpp"

namespace postern::fuzz {
namespace {

constexpr std::size_t max_line = 255;  // RFC 2449, what the POP3 session uses

bool same(const wire::Line& a, const wire::Line& b) {
  return a.text == b.text && a.too_long == b.too_long;
}

std::string describe(const std::vector<wire::Line>& lines) {
  std::string out;
  for (const auto& line : lines) out += line.too_long ? "<too long>|" : escaped(line.text) + "|";
  return out;
}

// RFC 1939 framing as the header states it: a line ends at LF, an optional CR before the LF is
// dropped, and a line longer than the limit (CRLF included) is reported once as too long.
// A trailing partial line that can no longer fit is reported too; a shorter one waits.
std::vector<wire::Line> reference_lines(std::string_view bytes, std::size_t& waiting) {
  std::vector<wire::Line> lines;
  waiting = 0;
  for (;;) {
    const auto lf = bytes.find('\n');
    if (lf == std::string_view::npos) {
      if (bytes.size() >= max_line) {
        lines.push_back({{}, true});
      } else {
        waiting = bytes.size();
      }
      return lines;
    }
    if (lf + 1 > max_line) {
      lines.push_back({{}, true});
    } else {
      auto text = bytes.substr(0, lf);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      lines.push_back({std::string(text), false});
    }
    bytes.remove_prefix(lf + 1);
  }
}

std::vector<wire::Line> drain(wire::LineReader& reader, std::vector<wire::Line> lines = {}) {
  while (auto line = reader.next()) lines.push_back(std::move(*line));
  return lines;
}

void check_lines(std::string_view bytes, std::size_t chunk) {
  wire::LineReader whole(max_line);
  whole.feed(bytes);
  const auto at_once = drain(whole);

  wire::LineReader pieces(max_line);
  std::vector<wire::Line> chunked;
  for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
    pieces.feed(bytes.substr(pos, chunk));
    chunked = drain(pieces, std::move(chunked));
  }

  std::size_t waiting = 0;
  const auto expected = reference_lines(bytes, waiting);
  FUZZ_CHECK(std::equal(at_once.begin(), at_once.end(), expected.begin(), expected.end(), same),
             "got " + describe(at_once) + " want " + describe(expected));
  FUZZ_CHECK(std::equal(chunked.begin(), chunked.end(), expected.begin(), expected.end(), same),
             "chunked got " + describe(chunked) + " want " + describe(expected));
  FUZZ_CHECK(whole.buffered() == waiting, std::to_string(whole.buffered()));
  for (const auto& line : at_once) {
    FUZZ_CHECK(line.text.find('\n') == std::string::npos, escaped(line.text));
    FUZZ_CHECK(line.text.size() < max_line, std::to_string(line.text.size()));
  }
}

char upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

std::optional<std::uint64_t> reference_number(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  unsigned __int128 value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > UINT64_MAX) return std::nullopt;
  return static_cast<std::uint64_t>(value);
}

void check_command(std::string_view line) {
  const auto command = pop3::parse_command(line);
  const auto space = line.find(' ');
  const auto keyword = line.substr(0, space);
  std::string want_keyword;
  for (const char c : keyword.substr(0, 8)) want_keyword.push_back(upper(c));
  FUZZ_CHECK(command.keyword == want_keyword, escaped(command.keyword));
  const auto want_args =
      space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
  FUZZ_CHECK(command.args == want_args, escaped(command.args));
  if (command.verb != pop3::Verb::unknown) {
    FUZZ_CHECK(keyword.size() == 3 || keyword.size() == 4, escaped(keyword));
  }
  // Keywords are case-insensitive: the lower-case line names the same command.
  std::string lower(line);
  for (char& c : lower) c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  FUZZ_CHECK(pop3::parse_command(lower).verb == command.verb, escaped(line));

  FUZZ_CHECK(pop3::parse_number(command.args) == reference_number(command.args),
             escaped(command.args));
  const auto two = pop3::parse_two_numbers(command.args);
  const auto args_space = command.args.find(' ');
  if (args_space == std::string::npos) {
    FUZZ_CHECK(!two, escaped(command.args));
  } else {
    const auto first = reference_number(std::string_view(command.args).substr(0, args_space));
    const auto second = reference_number(std::string_view(command.args).substr(args_space + 1));
    FUZZ_CHECK(two.has_value() == (first && second), escaped(command.args));
    if (two) FUZZ_CHECK(two->first == *first && two->second == *second, escaped(command.args));
  }
}

struct Encoded {
  std::string wire;
  std::uint64_t octets = 0;  // content octets: no stuffing dots, no terminator
};

// RETR (top unset) or TOP as RFC 1939 describes them, one line at a time: LF and CRLF both end a
// line and go out as CRLF, a line starting with '.' gets another, a last line without LF gets a
// CRLF, and TOP sends the headers, the blank line and then `top` body lines.
Encoded reference_encode(std::string_view stored, std::optional<std::uint64_t> top) {
  Encoded out;
  bool in_headers = true;
  std::uint64_t left = top.value_or(0);
  while (!stored.empty()) {
    const auto lf = stored.find('\n');
    auto body = stored.substr(0, lf);
    stored = lf == std::string_view::npos ? std::string_view{} : stored.substr(lf + 1);
    if (body.starts_with('.')) out.wire.push_back('.');
    out.wire.append(body);
    out.octets += body.size();
    // A CR before the LF is the first half of the CRLF; a last line without LF gets a whole one.
    const bool has_cr = lf != std::string_view::npos && body.ends_with('\r');
    const std::string_view ending = has_cr ? "\n" : "\r\n";
    out.wire.append(ending);
    out.octets += ending.size();
    if (lf == std::string_view::npos) break;
    if (in_headers) {
      if (body.empty() || body == "\r") in_headers = false;
      if (!in_headers && top && left == 0) break;
    } else if (top) {
      if (--left == 0) break;
    }
  }
  out.wire.append(".\r\n");
  return out;
}

Encoded encode(std::string_view stored, std::optional<std::uint64_t> top, std::size_t chunk) {
  pop3::MessageEncoder encoder(top);
  Encoded out;
  for (std::size_t pos = 0; pos < stored.size(); pos += chunk) {
    if (!encoder.feed(stored.substr(pos, chunk), out.wire)) break;
  }
  encoder.finish(out.wire);
  out.octets = encoder.content_octets();
  return out;
}

void check_encoder(std::string_view stored, std::size_t chunk, std::uint64_t top_lines) {
  const auto retr = encode(stored, std::nullopt, std::max<std::size_t>(stored.size(), 1));
  const auto want = reference_encode(stored, std::nullopt);
  FUZZ_CHECK(retr.wire == want.wire, "got " + escaped(retr.wire) + " want " + escaped(want.wire));
  FUZZ_CHECK(retr.octets == want.octets, std::to_string(retr.octets));
  const auto retr_chunked = encode(stored, std::nullopt, chunk);
  FUZZ_CHECK(retr_chunked.wire == want.wire, escaped(retr_chunked.wire));
  FUZZ_CHECK(retr_chunked.octets == want.octets, std::to_string(retr_chunked.octets));

  store::CrlfSizeCounter counter;
  for (std::size_t pos = 0; pos < stored.size(); pos += chunk)
    counter.feed(stored.substr(pos, chunk));
  FUZZ_CHECK(counter.size() == retr.octets,
             std::to_string(counter.size()) + " != " + std::to_string(retr.octets));

  const auto top = encode(stored, top_lines, chunk);
  const auto want_top = reference_encode(stored, top_lines);
  FUZZ_CHECK(top.wire == want_top.wire,
             "TOP got " + escaped(top.wire) + " want " + escaped(want_top.wire));
  FUZZ_CHECK(top.octets == want_top.octets, std::to_string(top.octets));
}

}  // namespace
}  // namespace postern::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::fuzz;
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::uint64_t top_lines = data[0] % 4;
  const auto bytes = as_text(data + 1, size - 1);
  check_lines(bytes, chunk);
  for (const auto line : split(bytes, '\n')) check_command(line);
  check_encoder(bytes, chunk, top_lines);
  return 0;
}
