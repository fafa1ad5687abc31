// The benchmark's mail: every message is a pure function of (user, index, size), so the fixture
// writer and the client that checks each RETR byte for byte agree without sharing a manifest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postern::bench {

// Which mail a benchmark user holds (one kind per scenario).
enum class MailSet {
  session,  // 20 messages of 2 KB to 170 KB, about 714 KB on the wire: a day of mail
  large,    // one message of `large_size` octets
  idle,     // one 1.5 KB message
  big,      // `big_count` messages of 0.5 to 4 KB
  none,     // an empty maildrop
};

struct MailParams {
  std::size_t large_size = 20'000'000;
  std::size_t big_count = 100'000;
};

struct MessageSpec {
  std::string user;
  std::uint32_t index = 0;  // 1-based, also the order of the file names
  std::size_t size = 0;     // approximate length of the stored (LF) form
};

// "sess00001": names are fixed-width so that messages of different users have equal sizes.
std::string user_name(std::string_view prefix, std::uint32_t number);

MailSet parse_mail_set(std::string_view name);  // throws std::invalid_argument
std::vector<MessageSpec> mail_for(MailSet set, const std::string& user, const MailParams& params);

// The message as stored in the Maildir: LF line ends, a final LF. The first line is
// "X-Bench-Id: USER INDEX", which lets the client recognise a message whatever order the
// server lists them in. Bodies hold lines that need dot-stuffing ("." alone, ".." and ".x").
std::string message_text(const MessageSpec& spec);

// The Maildir file name the fixture writer gives message `index` (without a ":2," suffix).
std::string message_file_name(std::uint32_t index);

// What a correct server sends for RETR of that message.
struct ExpectedMessage {
  std::string user;
  std::uint32_t index = 0;
  std::uint64_t octets = 0;  // the message's size on the wire (CRLF, no stuffing): LIST/STAT
  std::string stuffed;       // the exact multi-line body: CRLF, dot-stuffed, ".\r\n" at the end
};

ExpectedMessage expect(const MessageSpec& spec);
// Only the wire size (for maildrops whose messages are counted, never retrieved).
std::uint64_t wire_octets(const MessageSpec& spec);

// Everything the client checks about one user's maildrop.
struct ExpectedMaildrop {
  std::string user;
  std::uint64_t count = 0;
  std::uint64_t octets = 0;               // STAT's size: the sum of the wire sizes
  std::vector<ExpectedMessage> messages;  // by index - 1; empty unless built with content
};

ExpectedMaildrop expect_maildrop(MailSet set, const std::string& user, const MailParams& params,
                                 bool with_content);

}  // namespace postern::bench
