// Reply formatting in one place: status lines with RFC 2449/3206 response codes, and the
// multi-line terminator. Every byte a session sends that is not message content comes from here.
#pragma once

#include <string>
#include <string_view>

namespace postern::pop3 {

enum class RespCode { none, auth, in_use, sys_temp, sys_perm, login_delay, utf8 };

std::string_view resp_code_text(RespCode code);

// The one reason given whenever a password would cross an unprotected connection.
inline constexpr std::string_view plaintext_refused =
    "Plaintext authentication disallowed on non-secure (SSL/TLS) connections";

// "+OK text\r\n"
void append_ok(std::string& out, std::string_view text);
// "-ERR [CODE] text\r\n" (no brackets when code is none)
void append_err(std::string& out, RespCode code, std::string_view text);
// ".\r\n" ending a multi-line response.
void append_terminator(std::string& out);

}  // namespace postern::pop3
