// Fuzzes LMTP (src/lmtp): the whole lmtp::Session over a fake passdb and delivery sink, fed at once
// and in small reads, which must give the same replies and the same deliveries (and hold at most
// one unfinished command line while waiting); DATA's
// dot-unstuffing (BodyDecoder) against a line-by-line reading of RFC 5321 section 4.5.2, in any
// piece sizes; and the MAIL FROM / RCPT TO argument parser on its own.
//
// Input: byte 0 'B' = body decoder, 'A' = path arguments, anything else = a session whose
// options come from its bits (1 message limit 100 octets, 2 at most 2 recipients, 4 tiny output
// buffer, 0x80 read size 1 instead of 5). The rest is what the client sends.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "lmtp/address.hpp"
#include "lmtp/body_decoder.hpp"
#include "lmtp/session.hpp"

namespace postern::fuzz {
namespace {

// ---- DATA ----

struct Body {
  bool finished = false;
  std::size_t taken = 0;  // input bytes up to and including the end-of-data line
  std::string message;    // LF line ends, unstuffed; empty when too large
  std::uint64_t octets = 0;
};

// RFC 5321 4.5.2 read one line at a time: only CRLF ends a line, "." alone ends the data, a
// leading '.' is removed, and each line is kept with LF (octets count it as CRLF).
Body reference_body(std::string_view bytes, std::uint64_t limit) {
  Body body;
  std::size_t pos = 0;
  for (;;) {
    const auto end = bytes.find("\r\n", pos);
    if (end == std::string_view::npos) break;
    auto line = bytes.substr(pos, end - pos);
    pos = end + 2;
    if (line == ".") {
      body.finished = true;
      body.taken = pos;
      break;
    }
    if (line.starts_with('.')) line.remove_prefix(1);
    body.message.append(line).push_back('\n');
    body.octets += line.size() + 2;
  }
  if (body.octets > limit) body.message.clear();
  return body;
}

Body decode(std::string_view bytes, std::uint64_t limit, std::size_t piece) {
  lmtp::BodyDecoder decoder(limit);
  Body body;
  for (std::size_t pos = 0; pos < bytes.size() && !decoder.finished(); pos += piece) {
    const auto chunk = bytes.substr(pos, piece);
    const auto taken = decoder.feed(chunk);
    FUZZ_CHECK(taken <= chunk.size(), std::to_string(taken));
    FUZZ_CHECK(decoder.finished() || taken == chunk.size(), "bytes left before the end");
    body.taken = pos + taken;
  }
  body.finished = decoder.finished();
  body.message = decoder.message();
  body.octets = decoder.octets();
  FUZZ_CHECK(decoder.too_large() == (body.octets > limit), std::to_string(body.octets));
  return body;
}

void check_body(std::string_view bytes) {
  for (const std::uint64_t limit : {std::uint64_t{50} << 20, std::uint64_t{16}}) {
    const auto want = reference_body(bytes, limit);
    for (const std::size_t piece : {bytes.size() + 1, std::size_t{1}, std::size_t{3}}) {
      const auto got = decode(bytes, limit, piece);
      FUZZ_CHECK(got.finished == want.finished, escaped(bytes));
      if (!want.finished) continue;  // bytes held back at a piece's end are not emitted yet
      FUZZ_CHECK(got.taken == want.taken,
                 std::to_string(got.taken) + " != " + std::to_string(want.taken));
      FUZZ_CHECK(got.octets == want.octets, std::to_string(got.octets));
      FUZZ_CHECK(got.message == want.message,
                 "got " + escaped(got.message) + " want " + escaped(want.message));
    }
  }
}

// ---- MAIL FROM / RCPT TO ----

void check_path(std::string_view args, std::string_view prefix) {
  const auto parsed = lmtp::parse_path_argument(args, prefix);
  const auto* path = std::get_if<lmtp::PathArgument>(&parsed);
  if (!path) return;
  FUZZ_CHECK(path->null_path == path->address.empty(), escaped(args));
  for (const char c : path->address) {
    const auto byte = static_cast<unsigned char>(c);
    FUZZ_CHECK(byte >= 0x20 && byte != 0x7f, "control character in " + escaped(path->address));
  }
  for (const auto& parameter : path->parameters) {
    FUZZ_CHECK(!parameter.keyword.empty(), escaped(args));
    for (const char c : parameter.keyword) FUZZ_CHECK(!(c >= 'a' && c <= 'z'), escaped(args));
    FUZZ_CHECK(parameter.has_value || parameter.value.empty(), escaped(args));
  }
}

// ---- the session ----

struct Delivery {
  std::string sender;
  std::vector<std::string> recipients;
  std::string message;
  std::uint64_t octets = 0;
  bool operator==(const Delivery&) const = default;
};

const std::map<std::string, lmtp::RecipientStatus, std::less<>>& recipients() {
  using S = lmtp::RecipientStatus;
  static const std::map<std::string, S, std::less<>> table{
      {"alice@example.org", S::accepted},
      {"bob@example.org", S::accepted},
      {"carol", S::accepted},
      {"full@example.org", S::over_quota},
      {"later@example.org", S::over_quota_defer},
      {"down@example.org", S::temporary_failure},
  };
  return table;
}

lmtp::DeliveryOutcome outcome_for(std::string_view address) {
  if (address == "bob@example.org") return lmtp::DeliveryOutcome::temporary_failure;
  if (address == "carol") return lmtp::DeliveryOutcome::mailbox_unavailable;
  return lmtp::DeliveryOutcome::delivered;
}

void check_reply_lines(std::string_view wire) {
  while (!wire.empty()) {
    const auto end = wire.find("\r\n");
    FUZZ_CHECK(end != std::string_view::npos, "unterminated reply " + escaped(wire));
    const auto line = wire.substr(0, end);
    FUZZ_CHECK(line.size() >= 4 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
                   line[1] <= '9' && line[2] >= '0' && line[2] <= '9' &&
                   (line[3] == ' ' || line[3] == '-'),
               "bad reply line " + escaped(line));
    for (const char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      FUZZ_CHECK(byte >= 0x20 && byte < 0x7f, "unprintable reply " + escaped(line));
    }
    wire.remove_prefix(end + 2);
  }
}

class Driver {
 public:
  explicit Driver(std::uint8_t bits) : session_(options(bits)) {
    session_.start();
    const auto greeting = take_output();
    FUZZ_CHECK(greeting.starts_with("220 "), escaped(greeting));
  }

  std::string send(std::string_view bytes) {
    session_.receive(bytes);
    std::string wire;
    for (int steps = 0;; ++steps) {
      FUZZ_CHECK(steps < 100000, "the session never asked for input");
      auto action = session_.next();
      wire += take_output();
      if (std::holds_alternative<lmtp::action::NeedInput>(action)) {
        // Memory stays bounded: a waiting session holds at most one unfinished command line.
        FUZZ_CHECK(session_.buffered_input() < session_.options().max_line,
                   std::to_string(session_.buffered_input()));
        return wire;
      }
      if (std::holds_alternative<lmtp::action::Close>(action)) {
        closed_ = true;
        FUZZ_CHECK(session_.closed(), "Close while open");
        return wire;
      }
      if (auto* check = std::get_if<lmtp::action::CheckRecipient>(&action)) {
        const auto found = recipients().find(check->address);
        const auto status =
            found == recipients().end() ? lmtp::RecipientStatus::unknown_user : found->second;
        if (status == lmtp::RecipientStatus::accepted) accepted_.push_back(check->address);
        session_.on_recipient(status);
      } else if (auto* deliver = std::get_if<lmtp::action::Deliver>(&action)) {
        deliver_one(*deliver);
      }
    }
  }

  bool closed() const { return closed_; }
  const std::vector<Delivery>& deliveries() const { return deliveries_; }

 private:
  static lmtp::SessionOptions options(std::uint8_t bits) {
    lmtp::SessionOptions o;
    o.hostname = "fuzz.example.org";
    if (bits & 1) o.max_message_size = 100;
    if (bits & 2) o.max_recipients = 2;
    if (bits & 4) o.output_high_water = 30;
    return o;
  }

  std::string take_output() {
    std::string out;
    out.swap(session_.output());
    return out;
  }

  void deliver_one(const lmtp::action::Deliver& deliver) {
    const auto& o = session_.options();
    FUZZ_CHECK(!deliver.recipients.empty(), "a delivery without recipients");
    FUZZ_CHECK(deliver.recipients.size() <= o.max_recipients, "too many recipients");
    for (const auto& r : deliver.recipients) {
      FUZZ_CHECK(std::find(accepted_.begin(), accepted_.end(), r) != accepted_.end(),
                 "delivery to a recipient never accepted: " + escaped(r));
    }
    FUZZ_CHECK(deliver.octets <= o.max_message_size, std::to_string(deliver.octets));
    FUZZ_CHECK(deliver.message.size() <= deliver.octets, std::to_string(deliver.octets));
    deliveries_.push_back({deliver.sender, deliver.recipients, deliver.message, deliver.octets});
    std::vector<lmtp::DeliveryOutcome> outcomes;
    for (const auto& r : deliver.recipients) outcomes.push_back(outcome_for(r));
    session_.on_delivered(outcomes);
    // RFC 2033 4.2: one reply per recipient, in RCPT order, and nothing else.
    const auto replies = session_.output();
    std::size_t lines = 0;
    for (auto pos = replies.find("\r\n"); pos != std::string::npos;
         pos = replies.find("\r\n", pos + 2)) {
      ++lines;
    }
    FUZZ_CHECK(lines == deliver.recipients.size(), escaped(replies));
  }

  lmtp::Session session_;
  std::vector<std::string> accepted_;
  std::vector<Delivery> deliveries_;
  bool closed_ = false;
};

void check_session(std::uint8_t bits, std::string_view input) {
  Driver whole(bits);
  const auto wire_whole = whole.send(input);
  check_reply_lines(wire_whole);

  Driver pieces(bits);
  const std::size_t read_size = bits & 0x80 ? 1 : 5;
  std::string wire_pieces;
  for (std::size_t pos = 0; pos < input.size() && !pieces.closed(); pos += read_size) {
    wire_pieces += pieces.send(input.substr(pos, read_size));
  }
  show("client", input);
  show("server", wire_whole);
  FUZZ_CHECK(wire_whole == wire_pieces,
             "at once: " + escaped(wire_whole) + "\nin pieces: " + escaped(wire_pieces));
  FUZZ_CHECK(whole.deliveries() == pieces.deliveries(), "deliveries differ");
}

}  // namespace
}  // namespace postern::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  postern::fuzz::silence_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::fuzz;
  if (size == 0) return 0;
  const auto rest = as_text(data + 1, size - 1);
  if (data[0] == 'B') {
    check_body(rest);
  } else if (data[0] == 'A') {
    check_path(rest, "FROM:");
    check_path(rest, "TO:");
  } else {
    check_session(data[0], rest);
  }
  return 0;
}
