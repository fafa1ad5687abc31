#include "pop3/reply.hpp"

namespace postern::pop3 {

std::string_view resp_code_text(RespCode code) {
  switch (code) {
    case RespCode::none: return "";
    case RespCode::auth: return "AUTH";
    case RespCode::in_use: return "IN-USE";
    case RespCode::sys_temp: return "SYS/TEMP";
    case RespCode::sys_perm: return "SYS/PERM";
    case RespCode::login_delay: return "LOGIN-DELAY";
    case RespCode::utf8: return "UTF8";
  }
  return "";
}

void append_ok(std::string& out, std::string_view text) {
  out.append("+OK");
  if (!text.empty()) {
    out.push_back(' ');
    out.append(text);
  }
  out.append("\r\n");
}

void append_err(std::string& out, RespCode code, std::string_view text) {
  out.append("-ERR");
  if (code != RespCode::none) {
    out.append(" [");
    out.append(resp_code_text(code));
    out.push_back(']');
  }
  if (!text.empty()) {
    out.push_back(' ');
    out.append(text);
  }
  out.append("\r\n");
}

void append_terminator(std::string& out) {
  out.append(".\r\n");
}

}  // namespace postern::pop3
