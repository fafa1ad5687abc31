// Reply formatting in one place: "CODE X.Y.Z text" lines (RFC 5321 with RFC 2034 enhanced status
// codes) and multi-line replies. Every byte an LMTP session sends comes from here.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace postern::lmtp {

// "250 2.0.0 text\r\n"; an empty `status` leaves the enhanced code out (the greeting, LHLO).
void append_reply(std::string& out, int code, std::string_view status, std::string_view text);

// "250-first\r\n250-second\r\n250 last\r\n": every line but the last carries the '-'.
void append_multiline(std::string& out, int code, std::span<const std::string> lines);

// Stands in for the client's bytes inside reply text: anything outside printable ASCII becomes
// '?', so a reply can never contain a line break or a NUL whatever the client sent.
std::string printable(std::string_view text);

}  // namespace postern::lmtp
