// AUTHORIZATION-state commands (and CAPA/QUIT, valid in both states): RFC 1939 section 7, RFC 2449.
#include <fmt/format.h>

#include "auth/username.hpp"
#include "pop3/reply.hpp"
#include "pop3/session.hpp"

namespace postern::pop3 {
namespace {

std::string_view trim_trailing_spaces(std::string_view text) {
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

}  // namespace

bool Session::plain_ok() {
  return options_.plaintext_login_allowed || tls_active_;
}

// A name that could escape a path or forge a log line is refused before any lookup; it is
// handed to the driver's log through take_rejected_user().
bool Session::check_user_name(std::string_view name) {
  if (auth::is_valid_username(name)) return true;
  rejected_user_.emplace(name.substr(0, 300));
  append_err(output_, RespCode::auth, "Invalid user name");
  return false;
}

std::optional<Action> Session::cmd_capa() {
  bad_commands_ = 0;
  append_ok(output_, "Capability list follows");
  output_.append("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
  output_.append("EXPIRE NEVER\r\n");
  if (state_ == SessionState::authorization && plain_ok()) output_.append("USER\r\n");
  if (state_ == SessionState::authorization && !options_.sasl_mechanisms.empty()) {
    output_.append("SASL");
    for (const auto& name : options_.sasl_mechanisms) {
      output_.push_back(' ');
      output_.append(name);
    }
    output_.append("\r\n");
  }
  if (state_ == SessionState::authorization && options_.starttls_offered && !tls_active_) {
    output_.append("STLS\r\n");
  }
  output_.append("IMPLEMENTATION postern\r\n");
  append_terminator(output_);
  return std::nullopt;
}

std::optional<Action> Session::cmd_user(const Command& command) {
  have_user_ = false;
  if (!plain_ok()) {
    append_err(output_, RespCode::auth, plaintext_refused);
    return std::nullopt;
  }
  const auto name = trim_trailing_spaces(command.args);
  if (name.empty()) return bad_command(RespCode::none, "USER needs a user name");
  if (!check_user_name(name)) return std::nullopt;
  bad_commands_ = 0;
  user_.assign(name);
  have_user_ = true;
  append_ok(output_, "Send your password");
  return std::nullopt;
}

std::optional<Action> Session::cmd_pass(const Command& command) {
  if (!plain_ok()) {
    append_err(output_, RespCode::auth, plaintext_refused);
    return std::nullopt;
  }
  if (!have_user_) return bad_command(RespCode::none, "Send USER first");
  bad_commands_ = 0;
  have_user_ = false;
  waiting_ = Waiting::auth;
  // The password is the rest of the line: it may hold spaces, leading ones included.
  return action::Authenticate{user_, command.args};
}

// RFC 2595 section 4. Whatever the client sent after the STLS line was sent in the clear and
// could have been injected by anyone on the path: it is dropped, never run under TLS
// (the CVE-2011-0411 class). A USER given before TLS is forgotten for the same reason.
std::optional<Action> Session::cmd_stls() {
  if (!options_.starttls_offered) return bad_command(RespCode::none, "STLS is not offered here");
  if (tls_active_) return bad_command(RespCode::none, "TLS is already active");
  bad_commands_ = 0;
  reader_.clear();
  have_user_ = false;
  user_.clear();
  append_ok(output_, "Begin TLS negotiation");
  waiting_ = Waiting::tls;
  return action::StartTls{};
}

std::optional<Action> Session::cmd_quit() {
  if (state_ != SessionState::transaction || deleted_count_ == 0) {
    append_ok(output_, fmt::format("{} POP3 server signing off", options_.hostname));
    return close_with("quit");
  }
  state_ = SessionState::update;
  waiting_ = Waiting::commit;
  action::Commit commit;
  commit.deletions.reserve(deleted_count_);
  for (std::size_t i = 0; i < deleted_.size(); ++i) {
    if (deleted_[i]) commit.deletions.push_back(i);
  }
  return commit;
}

}  // namespace postern::pop3
