// The mail transaction of lmtp::Session: MAIL, RCPT, DATA, and the per-recipient replies that
// make LMTP what it is (RFC 2033 section 4.2).
#include <fmt/format.h>

#include <charconv>
#include <stdexcept>

#include "lmtp/address.hpp"
#include "lmtp/reply.hpp"
#include "lmtp/session.hpp"

namespace postern::lmtp {
namespace {

std::optional<std::uint64_t> parse_size_value(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.size() > 20) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// "<alice@example.org>" for reply texts, with any byte outside printable ASCII shown as '?'.
std::string bracketed(std::string_view address) {
  return fmt::format("<{}>", printable(address));
}

}  // namespace

std::optional<Action> Session::cmd_mail(const Command& command) {
  if (client_name_.empty()) return bad(503, "5.5.1", "Send LHLO first");
  if (have_mail_) return bad(503, "5.5.1", "Nested MAIL command");
  auto parsed = parse_path_argument(command.args, "FROM:");
  if (const auto* error = std::get_if<PathError>(&parsed)) {
    return bad(501, error->code == PathErrc::address ? "5.1.7" : "5.5.4", error->text);
  }
  auto& path = std::get<PathArgument>(parsed);
  std::optional<std::uint64_t> size;
  for (const auto& parameter : path.parameters) {
    if (parameter.keyword == "SIZE") {
      size = parse_size_value(parameter.value);
      if (!size) return bad(501, "5.5.4", "SIZE needs a number of octets");
    } else if (parameter.keyword == "BODY") {
      if (!iequals(parameter.value, "7BIT") && !iequals(parameter.value, "8BITMIME")) {
        return bad(555, "5.5.4", "Unsupported BODY type (7BIT or 8BITMIME)");
      }
    } else {
      return bad(555, "5.5.4", fmt::format("Unsupported parameter {}", parameter.keyword));
    }
  }
  if (size && *size > options_.max_message_size) {
    reply(552, "5.3.4",
          fmt::format("Message size exceeds the limit of {} octets", options_.max_message_size));
    return std::nullopt;
  }
  have_mail_ = true;
  sender_ = std::move(path.address);
  declared_size_ = size;
  ok(250, "2.1.0", fmt::format("Sender {} OK", bracketed(sender_)));
  return std::nullopt;
}

std::optional<Action> Session::cmd_rcpt(const Command& command) {
  if (!have_mail_) return bad(503, "5.5.1", "Need MAIL before RCPT");
  auto parsed = parse_path_argument(command.args, "TO:");
  if (const auto* error = std::get_if<PathError>(&parsed)) {
    return bad(501, error->code == PathErrc::address ? "5.1.3" : "5.5.4", error->text);
  }
  auto& path = std::get<PathArgument>(parsed);
  if (path.null_path) return bad(501, "5.1.3", "A recipient address is required");
  if (!path.parameters.empty()) {
    return bad(555, "5.5.4", fmt::format("Unsupported parameter {}", path.parameters[0].keyword));
  }
  if (recipients_.size() >= options_.max_recipients) {
    reply(452, "4.5.3", "Too many recipients");
    return std::nullopt;
  }
  bad_commands_ = 0;
  pending_recipient_ = path.address;
  waiting_ = Waiting::recipient;
  return action::CheckRecipient{std::move(path.address), declared_size_.value_or(0)};
}

void Session::on_recipient(RecipientStatus status) {
  if (waiting_ != Waiting::recipient) throw std::logic_error("lmtp::Session: unexpected answer");
  waiting_ = Waiting::nothing;
  const auto who = bracketed(pending_recipient_);
  switch (status) {
    case RecipientStatus::accepted:
      reply(250, "2.1.5", fmt::format("{} recipient OK", who));
      recipients_.push_back(std::move(pending_recipient_));
      break;
    case RecipientStatus::unknown_user:
      reply(550, "5.1.1", fmt::format("{} unknown user", who));
      break;
    case RecipientStatus::over_quota:
      reply(552, "5.2.2", fmt::format("{} mailbox full", who));
      break;
    case RecipientStatus::over_quota_defer:
      reply(452, "4.2.2", fmt::format("{} mailbox full, try again later", who));
      break;
    case RecipientStatus::temporary_failure:
      reply(451, "4.3.0", fmt::format("{} temporary failure, try again later", who));
      break;
  }
  pending_recipient_.clear();
}

std::optional<Action> Session::cmd_data(const Command& command) {
  if (!command.args.empty()) return bad(501, "5.5.4", "Syntax: DATA");
  if (!have_mail_) return bad(503, "5.5.1", "Need MAIL command");
  // Not the client's fault when every RCPT was refused (pipelining sends DATA regardless).
  if (recipients_.empty()) {
    reply(503, "5.5.1", "No valid recipients");
    return std::nullopt;
  }
  ok(354, "", "End data with <CR><LF>.<CR><LF>");
  body_.emplace(options_.max_message_size);
  // Whatever followed DATA in the same read is already message text.
  auto rest = reader_.take_buffered();
  const auto taken = body_->feed(rest);
  reader_.feed(std::string_view(rest).substr(taken));
  return std::nullopt;
}

std::optional<Action> Session::finish_message() {
  auto& body = *body_;
  if (body.too_large()) {
    const auto text = fmt::format("message too large (limit {} octets)", options_.max_message_size);
    for (const auto& recipient : recipients_) {
      reply(552, "5.3.4", fmt::format("{} {}", bracketed(recipient), text));
    }
    reset_transaction();
    return std::nullopt;
  }
  action::Deliver deliver{sender_, recipients_, std::move(body.message()), body.octets()};
  body_.reset();
  waiting_ = Waiting::delivery;
  return Action{std::move(deliver)};
}

void Session::on_delivered(std::span<const DeliveryOutcome> outcomes) {
  if (waiting_ != Waiting::delivery || outcomes.size() != recipients_.size()) {
    throw std::logic_error("lmtp::Session: delivery outcomes do not match the recipients");
  }
  waiting_ = Waiting::nothing;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const auto who = bracketed(recipients_[i]);
    switch (outcomes[i]) {
      case DeliveryOutcome::delivered: reply(250, "2.0.0", fmt::format("{} delivered", who)); break;
      case DeliveryOutcome::unknown_user:
        reply(550, "5.1.1", fmt::format("{} unknown user", who));
        break;
      case DeliveryOutcome::over_quota:
        reply(552, "5.2.2", fmt::format("{} mailbox full", who));
        break;
      case DeliveryOutcome::over_quota_defer:
        reply(452, "4.2.2", fmt::format("{} mailbox full, try again later", who));
        break;
      case DeliveryOutcome::too_large:
        reply(552, "5.3.4", fmt::format("{} message too large", who));
        break;
      case DeliveryOutcome::temporary_failure:
        reply(451, "4.3.0", fmt::format("{} temporary failure, try again later", who));
        break;
      case DeliveryOutcome::mailbox_unavailable:
        reply(550, "5.2.0", fmt::format("{} mailbox unavailable", who));
        break;
      case DeliveryOutcome::failed:
        reply(554, "5.3.0", fmt::format("{} delivery failed", who));
        break;
    }
  }
  reset_transaction();
}

}  // namespace postern::lmtp
