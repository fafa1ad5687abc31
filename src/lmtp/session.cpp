#include "lmtp/session.hpp"

#include <fmt/format.h>

#include <array>
#include <stdexcept>

#include "lmtp/reply.hpp"

namespace postern::lmtp {

Session::Session(SessionOptions options)
    : options_(std::move(options)), reader_(options_.max_line) {}

void Session::start() {
  reply(220, "", fmt::format("{} LMTP postern ready", options_.hostname));
}

void Session::receive(std::string_view bytes) {
  // Message text goes straight to the decoder: it never sits in the line buffer.
  if (body_ && !body_->finished()) bytes.remove_prefix(body_->feed(bytes));
  reader_.feed(bytes);
}

Action Session::next() {
  if (closed_) return action::Close{};
  if (waiting_ != Waiting::nothing) throw std::logic_error("lmtp::Session::next() while waiting");
  for (;;) {
    if (output_.size() >= options_.output_high_water) return action::Flush{};
    if (body_) {
      if (!body_->finished()) return action::NeedInput{};
      // Moved, not copied: a Deliver action holds the whole message.
      if (auto result = finish_message()) return std::move(*result);
      continue;
    }
    auto line = reader_.next();
    if (!line) return action::NeedInput{};
    std::optional<Action> result;
    if (line->too_long) {
      result = bad(500, "5.5.2", "Line too long");
    } else {
      result = dispatch(parse_command(line->text));
    }
    if (result) return std::move(*result);
  }
}

std::optional<Action> Session::dispatch(const Command& command) {
  if (command.verb != Verb::unknown && has_control_characters(command.args)) {
    return bad(501, "5.5.4", "Control characters in command arguments");
  }
  switch (command.verb) {
    case Verb::lhlo: return cmd_lhlo(command);
    case Verb::helo:
    case Verb::ehlo:
      return bad(500, "5.5.1", "This is an LMTP server: say LHLO, not HELO or EHLO (RFC 2033)");
    case Verb::mail: return cmd_mail(command);
    case Verb::rcpt: return cmd_rcpt(command);
    case Verb::data: return cmd_data(command);
    case Verb::rset: return cmd_rset(command);
    case Verb::noop: ok(250, "2.0.0", "OK"); return std::nullopt;
    case Verb::quit:
      ok(221, "2.0.0", fmt::format("{} closing connection", options_.hostname));
      return close_with("quit");
    case Verb::vrfy: return cmd_vrfy(command);
    case Verb::help:
      ok(214, "2.0.0", "Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
      return std::nullopt;
    case Verb::unknown: break;
  }
  return bad(500, "5.5.2", "Unknown command");
}

std::optional<Action> Session::cmd_lhlo(const Command& command) {
  if (command.args.empty()) return bad(501, "5.5.4", "Syntax: LHLO hostname");
  reset_transaction();  // RFC 5321 4.1.4: a new greeting clears the transaction
  client_name_ = command.args;
  const std::array<std::string, 5> lines{
      options_.hostname,
      "PIPELINING",
      "ENHANCEDSTATUSCODES",
      "8BITMIME",
      fmt::format("SIZE {}", options_.max_message_size),
  };
  bad_commands_ = 0;
  append_multiline(output_, 250, lines);
  return std::nullopt;
}

std::optional<Action> Session::cmd_rset(const Command& command) {
  if (!command.args.empty()) return bad(501, "5.5.4", "Syntax: RSET");
  reset_transaction();
  ok(250, "2.0.0", "OK");
  return std::nullopt;
}

std::optional<Action> Session::cmd_vrfy(const Command& command) {
  if (command.args.empty()) return bad(501, "5.5.4", "Syntax: VRFY address");
  ok(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
  return std::nullopt;
}

void Session::reset_transaction() {
  have_mail_ = false;
  sender_.clear();
  declared_size_.reset();
  recipients_.clear();
  body_.reset();
}

void Session::ok(int code, std::string_view status, std::string_view text) {
  bad_commands_ = 0;
  append_reply(output_, code, status, text);
}

void Session::reply(int code, std::string_view status, std::string_view text) {
  append_reply(output_, code, status, text);
}

std::optional<Action> Session::bad(int code, std::string_view status, std::string_view text) {
  if (++bad_commands_ >= options_.max_bad_commands) {
    reply(421, "4.7.0",
          fmt::format("{} Too many bad commands, closing connection", options_.hostname));
    return close_with("too many bad commands");
  }
  reply(code, status, text);
  return std::nullopt;
}

std::optional<Action> Session::close_with(std::string reason) {
  closed_ = true;
  close_reason_ = std::move(reason);
  return action::Close{};
}

}  // namespace postern::lmtp
