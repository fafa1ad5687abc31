// TRANSACTION-state commands: RFC 1939 section 5 (STAT, LIST, RETR, DELE, NOOP, RSET) and the
// optional TOP and UIDL of section 7. Messages marked deleted are invisible until RSET.
#include <fmt/format.h>

#include "pop3/reply.hpp"
#include "pop3/session.hpp"

namespace postern::pop3 {
namespace {

bool no_arguments(std::string_view args) {
  return args.find_first_not_of(' ') == std::string_view::npos;
}

}  // namespace

std::optional<Action> Session::cmd_stat() {
  bad_commands_ = 0;
  const auto [count, octets] = visible_totals();
  append_ok(output_, fmt::format("{} {}", count, octets));
  return std::nullopt;
}

std::optional<Action> Session::cmd_list(const Command& command) {
  const auto [count, octets] = visible_totals();
  return listing_command(command, Listing::list,
                         fmt::format("{} messages ({} octets)", count, octets));
}

std::optional<Action> Session::cmd_uidl(const Command& command) {
  return listing_command(command, Listing::uidl, "Unique-ID listing follows");
}

// LIST and UIDL: with no argument a multi-line listing of every visible message, produced in
// slices by continue_listing(); with one, the single line for that message.
std::optional<Action> Session::listing_command(const Command& command, Listing kind,
                                               std::string_view header) {
  if (no_arguments(command.args)) {
    bad_commands_ = 0;
    append_ok(output_, header);
    listing_ = kind;
    listing_next_ = 0;
    continue_listing();
    return std::nullopt;
  }
  const auto index = message_index(command.args);
  if (!index) return closed_action();
  bad_commands_ = 0;
  output_.append("+OK ");
  append_listing_line(kind, *index);
  return std::nullopt;
}

std::optional<Action> Session::cmd_retr(const Command& command) {
  const auto index = message_index(command.args);
  if (!index) return closed_action();
  return send_message(*index, std::nullopt);
}

std::optional<Action> Session::cmd_top(const Command& command) {
  std::string_view args = command.args;
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  const auto space = args.find(' ');
  const auto lines =
      space == std::string_view::npos ? std::nullopt : parse_number(args.substr(space + 1));
  if (!lines) return bad_command(RespCode::none, "TOP needs a message number and a line count");
  const auto index = message_index(args.substr(0, space));
  if (!index) return closed_action();
  return send_message(*index, *lines);
}

std::optional<Action> Session::send_message(std::size_t index,
                                            std::optional<std::uint64_t> top_lines) {
  bad_commands_ = 0;
  pending_message_ = index;
  pending_is_top_ = top_lines.has_value();
  waiting_ = Waiting::message;
  return action::SendMessage{index, top_lines};
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
