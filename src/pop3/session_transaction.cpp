// TRANSACTION-state commands: RFC 1939 section 5 (STAT, LIST, RETR, DELE, NOOP, RSET) and the
// optional TOP and UIDL of section 7. Messages marked deleted are invisible until RSET.
#include <fmt/format.h>

#include "pop3/reply.hpp"
#include "pop3/session.hpp"

namespace postern::pop3 {
namespace {

bool no_arguments(std::string_view args) { return args.find_first_not_of(' ') == std::string_view::npos; }

}  // namespace

std::optional<Action> Session::cmd_stat() {
  bad_commands_ = 0;
  const auto [count, octets] = visible_totals();
  append_ok(output_, fmt::format("{} {}", count, octets));
  return std::nullopt;
}

std::optional<Action> Session::cmd_list(const Command& command) {
  if (no_arguments(command.args)) {
    bad_commands_ = 0;
    const auto [count, octets] = visible_totals();
    append_ok(output_, fmt::format("{} messages ({} octets)", count, octets));
    listing_ = Listing::list;
    listing_next_ = 0;
    continue_listing();
    return std::nullopt;
  }
  const auto index = message_index(command.args);
  if (!index) return closed_action();
  bad_commands_ = 0;
  append_ok(output_, fmt::format("{} {}", *index + 1, messages_[*index].size));
  return std::nullopt;
}

std::optional<Action> Session::cmd_uidl(const Command& command) {
  if (no_arguments(command.args)) {
    bad_commands_ = 0;
    append_ok(output_, "Unique-ID listing follows");
    listing_ = Listing::uidl;
    listing_next_ = 0;
    continue_listing();
    return std::nullopt;
  }
  const auto index = message_index(command.args);
  if (!index) return closed_action();
  bad_commands_ = 0;
  append_ok(output_, fmt::format("{} {}", *index + 1, messages_[*index].uidl));
  return std::nullopt;
}

std::optional<Action> Session::cmd_retr(const Command& command) {
  const auto index = message_index(command.args);
  if (!index) return closed_action();
  bad_commands_ = 0;
  pending_message_ = *index;
  pending_is_top_ = false;
  waiting_ = Waiting::message;
  return action::SendMessage{*index, std::nullopt};
}

std::optional<Action> Session::cmd_top(const Command& command) {
  std::string_view args = command.args;
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  const auto space = args.find(' ');
  const auto lines = space == std::string_view::npos ? std::nullopt : parse_number(args.substr(space + 1));
  if (!lines) return bad_command(RespCode::none, "TOP needs a message number and a line count");
  const auto index = message_index(args.substr(0, space));
  if (!index) return closed_action();
  bad_commands_ = 0;
  pending_message_ = *index;
  pending_is_top_ = true;
  waiting_ = Waiting::message;
  return action::SendMessage{*index, *lines};
}

std::optional<Action> Session::cmd_dele(const Command& command) {
  const auto index = message_index(command.args);
  if (!index) return closed_action();
  bad_commands_ = 0;
  deleted_[*index] = true;
  ++deleted_count_;
  append_ok(output_, fmt::format("Message {} deleted", *index + 1));
  return std::nullopt;
}

std::optional<Action> Session::cmd_rset() {
  bad_commands_ = 0;
  deleted_.assign(messages_.size(), false);
  deleted_count_ = 0;
  const auto [count, octets] = visible_totals();
  append_ok(output_, fmt::format("Maildrop has {} messages ({} octets)", count, octets));
  return std::nullopt;
}

std::optional<Action> Session::cmd_noop() {
  bad_commands_ = 0;
  append_ok(output_, "");
  return std::nullopt;
}

}  // namespace postern::pop3
