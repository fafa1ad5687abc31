#include "pop3/session.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "pop3/reply.hpp"

namespace postern::pop3 {

Session::Session(SessionOptions options)
    : options_(std::move(options)), reader_(options_.max_line), tls_active_(options_.tls_active) {}

void Session::start() {
  if (!options_.apop_enabled) {
    append_ok(output_, fmt::format("{} POP3 server ready", options_.hostname));
    return;
  }
  if (options_.apop_timestamp.empty()) {
    options_.apop_timestamp = make_apop_timestamp(options_.hostname);
  }
  append_ok(output_,
            fmt::format("{} POP3 server ready {}", options_.hostname, options_.apop_timestamp));
}

void Session::receive(std::string_view bytes) {
  reader_.feed(bytes);
}

Action Session::next() {
  if (state_ == SessionState::closed) return action::Close{};
  if (waiting_ != Waiting::nothing) throw std::logic_error("pop3::Session::next() while waiting");
  if (queued_) {
    auto queued = std::move(*queued_);
    queued_.reset();
    if (std::holds_alternative<action::OpenMaildrop>(queued)) waiting_ = Waiting::maildrop;
    return queued;
  }
  if (listing_ != Listing::none) {
    continue_listing();
    if (listing_ != Listing::none) return action::Flush{};
  }
  for (;;) {
    if (output_.size() >= options_.output_high_water) return action::Flush{};
    auto line = reader_.next();
    if (!line) return action::NeedInput{};
    std::optional<Action> result;
    if (sasl_ != Sasl::none) {
      result = sasl_line(*line);
    } else if (line->too_long) {
      result = bad_command(RespCode::none, "Line too long");
    } else {
      result = dispatch(parse_command(line->text));
    }
    if (result) return *result;
    if (listing_ != Listing::none) return action::Flush{};
  }
}

std::optional<Action> Session::dispatch(const Command& command) {
  const bool authorized = state_ == SessionState::transaction;
  switch (command.verb) {
    case Verb::capa: return cmd_capa();
    case Verb::quit: return cmd_quit();
    case Verb::noop:
      if (authorized) return cmd_noop();
      break;
    case Verb::user:
    case Verb::pass:
      if (authorized) return bad_command(RespCode::none, "Already logged in");
      return command.verb == Verb::user ? cmd_user(command) : cmd_pass(command);
    case Verb::stat:
      if (authorized) return cmd_stat();
      break;
    case Verb::list:
      if (authorized) return cmd_list(command);
      break;
    case Verb::uidl:
      if (authorized) return cmd_uidl(command);
      break;
    case Verb::retr:
      if (authorized) return cmd_retr(command);
      break;
    case Verb::top:
      if (authorized) return cmd_top(command);
      break;
    case Verb::dele:
      if (authorized) return cmd_dele(command);
      break;
    case Verb::rset:
      if (authorized) return cmd_rset();
      break;
    case Verb::stls:
      if (authorized) break;
      return cmd_stls();
    case Verb::apop:
    case Verb::auth:
      if (authorized) return bad_command(RespCode::none, "Already logged in");
      return command.verb == Verb::apop ? cmd_apop(command) : cmd_auth(command);
    case Verb::utf8:
    case Verb::unknown: return bad_command(RespCode::none, "Unknown command");
  }
  return bad_command(RespCode::none, authorized ? "Not valid in this state" : "Not logged in");
}

std::optional<Action> Session::bad_command(RespCode code, std::string_view text) {
  if (++bad_commands_ >= options_.max_bad_commands) {
    append_err(output_, code, fmt::format("{}; too many bad commands, closing connection", text));
    return close_with("too many bad commands");
  }
  append_err(output_, code, text);
  return std::nullopt;
}

std::optional<Action> Session::close_with(std::string reason) {
  state_ = SessionState::closed;
  close_reason_ = std::move(reason);
  return action::Close{};
}

std::optional<Action> Session::closed_action() const {
  if (state_ == SessionState::closed) return action::Close{};
  return std::nullopt;
}

std::optional<std::size_t> Session::message_index(std::string_view arg) {
  while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
  const auto number = parse_number(arg);
  if (!number) {
    bad_command(RespCode::none, "Invalid message number");
    return std::nullopt;
  }
  if (*number == 0 || *number > messages_.size()) {
    append_err(output_, RespCode::none, "No such message");
    return std::nullopt;
  }
  const auto index = static_cast<std::size_t>(*number - 1);
  if (deleted_[index]) {
    append_err(output_, RespCode::none, fmt::format("Message {} already deleted", *number));
    return std::nullopt;
  }
  return index;
}

std::pair<std::uint64_t, std::uint64_t> Session::visible_totals() const {
  std::uint64_t count = 0;
  std::uint64_t octets = 0;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (deleted_[i]) continue;
    ++count;
    octets += messages_[i].size;
  }
  return {count, octets};
}

// "N size" or "N uidl" and CRLF, for message index.
void Session::append_listing_line(Listing kind, std::size_t index) {
  const auto& message = messages_[index];
  if (kind == Listing::list) {
    fmt::format_to(std::back_inserter(output_), "{} {}\r\n", index + 1, message.size);
  } else {
    fmt::format_to(std::back_inserter(output_), "{} {}\r\n", index + 1, message.uidl);
  }
}

void Session::continue_listing() {
  std::size_t i = listing_next_;
  for (; i < messages_.size(); ++i) {
    if (output_.size() >= options_.output_high_water) break;
    if (!deleted_[i]) append_listing_line(listing_, i);
  }
  listing_next_ = i;
  if (i == messages_.size()) {
    append_terminator(output_);
    listing_ = Listing::none;
  }
}

// ---- results reported by the driver ----

void Session::on_authenticated(bool ok, bool temporary_failure) {
  waiting_ = Waiting::nothing;
  if (ok) {
    queued_ = action::OpenMaildrop{user_};
    return;
  }
  have_user_ = false;
  if (temporary_failure) {
    append_err(output_, RespCode::sys_temp, "Authentication temporarily unavailable, try later");
    return;
  }
  authentication_failed();
}

void Session::authentication_failed() {
  if (++auth_failures_ >= options_.max_auth_failures) {
    append_err(output_, RespCode::auth, "Authentication failed; too many failures, closing");
    queued_ = close_with("too many authentication failures");
    return;
  }
  append_err(output_, RespCode::auth, "Authentication failed");
}

void Session::on_tls_started() {
  waiting_ = Waiting::nothing;
  tls_active_ = true;
}

void Session::on_maildrop_opened(std::span<const store::MessageInfo> messages) {
  waiting_ = Waiting::nothing;
  messages_ = messages;
  deleted_.assign(messages.size(), false);
  deleted_count_ = 0;
  state_ = SessionState::transaction;
  bad_commands_ = 0;
  const auto [count, octets] = visible_totals();
  append_ok(output_, fmt::format("Logged in, {} messages ({} octets)", count, octets));
}

void Session::on_maildrop_failed(store::StoreErrc code, std::string_view reason) {
  waiting_ = Waiting::nothing;
  have_user_ = false;
  switch (code) {
    case store::StoreErrc::in_use:
      append_err(output_, RespCode::in_use, "Maildrop is locked by another session");
      break;
    case store::StoreErrc::temporary:
      append_err(output_, RespCode::sys_temp, fmt::format("Cannot open maildrop: {}", reason));
      break;
    case store::StoreErrc::permanent:
      append_err(output_, RespCode::sys_perm, fmt::format("Cannot open maildrop: {}", reason));
      break;
  }
}

void Session::message_unavailable(store::StoreErrc code) {
  waiting_ = Waiting::nothing;
  const auto number = *pending_message_ + 1;
  pending_message_.reset();
  append_err(output_, code == store::StoreErrc::permanent ? RespCode::sys_perm : RespCode::sys_temp,
             fmt::format("Message {} is not available right now", number));
}

void Session::message_started() {
  const auto& message = messages_[*pending_message_];
  if (pending_is_top_) {
    append_ok(output_, "Top of message follows");
  } else {
    append_ok(output_, fmt::format("{} octets", message.size));
  }
}

void Session::message_finished(std::uint64_t content_octets) {
  waiting_ = Waiting::nothing;
  pending_message_.reset();
  ++stats_.retrieved;
  stats_.retrieved_octets += content_octets;
}

void Session::on_committed(std::optional<store::StoreErrc> failure) {
  waiting_ = Waiting::nothing;
  if (failure) {
    append_err(output_, RespCode::sys_temp,
               "Some deleted messages could not be removed; they remain in the maildrop");
  } else {
    stats_.deleted = deleted_count_;
    append_ok(output_, fmt::format("{} POP3 server signing off ({} messages deleted)",
                                   options_.hostname, deleted_count_));
  }
  queued_ = close_with("quit");
}

}  // namespace postern::pop3
