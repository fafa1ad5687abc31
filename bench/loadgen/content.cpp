// Deterministic benchmark mail (see content.hpp).
#include "content.hpp"

#include <fmt/format.h>

#include <array>
#include <stdexcept>

namespace postern::bench {
namespace {

// splitmix64: tiny, fast and the same on every platform, which is all a fixture needs.
std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Body text is cut from one pool of printable characters: copying slices is what lets the
// client regenerate a 100 MB message in a fraction of a second.
constexpr std::size_t pool_size = 1 << 16;
constexpr std::size_t max_line = 78;

const std::string& text_pool() {
  static const std::string pool = [] {
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ ,.;:-!?'()=";
    std::string text(pool_size, ' ');
    std::uint64_t state = 42;
    for (auto& c : text) c = alphabet[next_random(state) % alphabet.size()];
    return text;
  }();
  return pool;
}

// Sizes of the 20 session messages (stored octets): mostly short mail, a few attachments.
constexpr std::array<std::size_t, 20> session_sizes = {
    2'000,  3'000,  4'000,  5'000,  6'000,  8'000,  10'000, 12'000, 15'000,  18'000,
    22'000, 26'000, 30'000, 36'000, 42'000, 50'000, 60'000, 75'000, 110'000, 170'000};

}  // namespace

std::string user_name(std::string_view prefix, std::uint32_t number) {
  return fmt::format("{}{:05}", prefix, number);
}

MailSet parse_mail_set(std::string_view name) {
  if (name == "session") return MailSet::session;
  if (name == "large") return MailSet::large;
  if (name == "idle") return MailSet::idle;
  if (name == "big") return MailSet::big;
  if (name == "none") return MailSet::none;
  throw std::invalid_argument(fmt::format("unknown mail set '{}'", name));
}

std::vector<MessageSpec> mail_for(MailSet set, const std::string& user, const MailParams& params) {
  std::vector<MessageSpec> out;
  switch (set) {
    case MailSet::session:
      for (std::uint32_t i = 0; i < session_sizes.size(); ++i)
        out.push_back({user, i + 1, session_sizes[i]});
      break;
    case MailSet::large: out.push_back({user, 1, params.large_size}); break;
    case MailSet::idle: out.push_back({user, 1, 1'500}); break;
    case MailSet::big:
      out.reserve(params.big_count);
      for (std::uint32_t i = 1; i <= params.big_count; ++i)
        out.push_back({user, i, 500 + (std::size_t{i} * 7919) % 3'500});
      break;
    case MailSet::none: break;
  }
  return out;
}

std::string message_text(const MessageSpec& spec) {
  std::string out;
  out.reserve(spec.size + 2 * max_line);
  out += fmt::format(
      "X-Bench-Id: {0} {1}\n"
      "Return-Path: <sender@bench.example>\n"
      "From: Bench Sender <sender@bench.example>\n"
      "To: {0}@bench.example\n"
      "Subject: postern-bench message {1} for {0}\n"
      "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
      "Message-ID: <{1}.{0}@bench.example>\n"
      "MIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=us-ascii\n"
      "\n"
      "This message was written by postern-bench; the client checks every octet of it.\n"
      ".A line that starts with a dot\n"
      "..Two dots\n"
      ".\n"
      "\n",
      spec.user, spec.index);
  const std::string& pool = text_pool();
  // The body depends on the index only: with user names of one width, every user's maildrop
  // has the same sizes, and only the headers tell whose message it is.
  std::uint64_t state = std::uint64_t{spec.index} * 0x9E3779B97F4A7C15ULL;
  while (out.size() + max_line < spec.size) {
    const std::uint64_t r = next_random(state);
    const unsigned kind = r & 63;
    const std::size_t length = ((r >> 6) & 7) < 6 ? 76 : (r >> 9) % (max_line + 1);
    const std::size_t from = (r >> 20) % (pool_size - max_line);
    if (kind == 0) {
      out += ".\n";
      continue;
    }
    if (kind <= 6 && kind >= 4) {
      out += '\n';
      continue;
    }
    if (kind == 1) out += "..";
    if (kind == 2 || kind == 3) out += '.';
    out.append(pool, from, length);
    out += '\n';
  }
  // Every third message ends in a lone "." line: "..\r\n.\r\n" is the end a careless
  // terminator search gets wrong.
  out += spec.index % 3 == 0 ? ".\n" : "-- \nEnd of message.\n";
  return out;
}

std::string message_file_name(std::uint32_t index) {
  return fmt::format("{}.M{}P1.postern-bench", 1'700'000'000 + index, index);
}

ExpectedMessage expect(const MessageSpec& spec) {
  const std::string text = message_text(spec);
  ExpectedMessage out{spec.user, spec.index, 0, {}};
  out.stuffed.reserve(text.size() + text.size() / 32 + 16);
  std::size_t line_start = 0;
  while (line_start < text.size()) {
    std::size_t end = text.find('\n', line_start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + line_start, end - line_start);
    if (!line.empty() && line.front() == '.') out.stuffed += '.';
    out.stuffed += line;
    out.stuffed += "\r\n";
    out.octets += line.size() + 2;
    line_start = end + 1;
  }
  out.stuffed += ".\r\n";
  return out;
}

std::uint64_t wire_octets(const MessageSpec& spec) {
  const std::string text = message_text(spec);
  std::uint64_t lines = 0;
  for (const char c : text) lines += c == '\n';
  return text.size() + lines;
}

ExpectedMaildrop expect_maildrop(MailSet set, const std::string& user, const MailParams& params,
                                 bool with_content) {
  ExpectedMaildrop out{user, 0, 0, {}};
  for (const auto& spec : mail_for(set, user, params)) {
    ++out.count;
    if (with_content) {
      out.messages.push_back(expect(spec));
      out.octets += out.messages.back().octets;
    } else {
      out.octets += wire_octets(spec);
    }
  }
  return out;
}

}  // namespace postern::bench
