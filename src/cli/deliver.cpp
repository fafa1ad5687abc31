// `postern deliver`: the local delivery agent an MTA pipes one message into (Postfix pipe(8) or
// mailbox_command, Exim's pipe transport, fetchmail's mda). Exit codes are sysexits, which the
// MTA turns into deferral or bounce; a failure prints one line to stderr, which it quotes.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "auth/passwd_file.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "delivery/deliverer.hpp"
#include "net/privileges.hpp"
#include "store/maildir.hpp"
#include "store/printable.hpp"

namespace postern::cli {
namespace {

using delivery::DeliveryStatus;

// The one line the MTA puts into its log and the bounce: control characters would split it. It
// starts with the enhanced status code because Postfix's pipe(8) then uses that code (5.2.2
// rather than a generic 5.3.0 for the exit status) in its log and the bounce.
int fail(int code, std::string_view status, std::string_view reason) {
  std::string line;
  for (const char c : reason) line += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  std::cerr << status << " postern deliver: " << line << '\n';
  return code;
}

// A From_ line longer than this is message text that happens to start with "From ".
constexpr std::size_t max_from_line = 1000;

struct StdinMessage {
  std::string text;                   // LF line ends, without the From_ line
  std::optional<std::string> sender;  // from the From_ line
  bool too_large = false;             // reading stopped: more than the limit
};

// The envelope sender of an mbox From_ line: "From alice@example.org Thu Nov 26 12:00:00 2026".
// MAILER-DAEMON and <> are the null sender, as Postfix writes it for bounces.
std::string from_line_sender(std::string_view line) {
  line.remove_prefix(std::string_view("From ").size());
  const std::string_view address = line.substr(0, line.find(' '));
  if (address == "<>" || address == "MAILER-DAEMON") return {};
  return std::string(address);
}

// Whether the first line is known yet; strips it when it is a From_ line.
bool settle_first_line(StdinMessage& message, bool at_end) {
  std::string& text = message.text;
  constexpr std::string_view from = "From ";
  if (!text.starts_with(from.substr(0, std::min(text.size(), from.size())))) return true;
  if (text.size() < from.size()) return at_end;
  const auto newline = text.find('\n');
  if (newline == std::string::npos && !at_end) return text.size() > max_from_line;
  const std::size_t line_end = newline == std::string::npos ? text.size() : newline;
  if (line_end > max_from_line) return true;
  message.sender = from_line_sender(std::string_view(text).substr(0, line_end));
  text.erase(0, newline == std::string::npos ? text.size() : newline + 1);
  return true;
}

// Reads the message, converting CRLF to LF as it goes, and stops as soon as it is over `limit`
// bytes (the size it would be stored with), so an endless input costs limit bytes of memory.
StdinMessage read_stdin_message(std::uint64_t limit) {
  StdinMessage message;
  bool first_line_settled = false;
  bool cr_pending = false;  // a chunk ended in CR: its LF may start the next one
  std::array<char, 65536> buffer{};
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category());
    if (n == 0) break;
    std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
    if (cr_pending && !chunk.starts_with('\n')) message.text += '\r';
    cr_pending = chunk.ends_with('\r');
    if (cr_pending) chunk.remove_suffix(1);
    message.text += delivery::to_lf(chunk);
    if (!first_line_settled) first_line_settled = settle_first_line(message, false);
    const std::uint64_t allowance = first_line_settled ? 0 : max_from_line + 1;
    if (message.text.size() > limit + allowance) {
      message.too_large = true;
      return message;
    }
  }
  if (cr_pending) message.text += '\r';
  if (!first_line_settled) settle_first_line(message, true);
  message.too_large = message.text.size() > limit;
  return message;
}

// Envelope addresses go into header lines; a control character there is a broken caller.
std::optional<std::string> bad_address(std::string_view option, const std::string& address) {
  for (const char c : address) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      return fmt::format("{} holds a control character: {}", option, store::printable(address));
    }
  }
  return std::nullopt;
}

int exit_code_for(const delivery::DeliveryResult& result) {
  switch (result.status) {
    case DeliveryStatus::delivered: return exit_ok;
    case DeliveryStatus::unknown_user: return exit_nouser;
    case DeliveryStatus::over_quota: return result.defer ? exit_tempfail : exit_noperm;
    case DeliveryStatus::too_large: return exit_noperm;
    case DeliveryStatus::temporary_failure: return exit_tempfail;
    case DeliveryStatus::cannot_create: return exit_cantcreat;
    case DeliveryStatus::io_error: return exit_ioerr;
  }
  return exit_tempfail;
}

int report(const delivery::DeliveryResult& result) {
  const int code = exit_code_for(result);
  if (code == exit_ok) return code;
  return fail(code, delivery::enhanced_status_code(result.status, result.defer), result.detail);
}

}  // namespace

int run_deliver(const DeliverCommand& command) {
  // stdout and stderr belong to the MTA: the single failure line and nothing else.
  spdlog::set_level(spdlog::level::off);
  for (const auto& [option, value] :
       {std::pair{"--sender", command.sender}, std::pair{"--recipient", command.recipient}}) {
    if (!value) continue;
    if (const auto problem = bad_address(option, *value)) {
      return fail(exit_usage, "5.5.4", *problem);
    }
  }

  std::optional<config::Config> config;
  try {
    config = config::load_config(command.config_file);
  } catch (const std::exception& e) {
    // EX_TEMPFAIL, not EX_CONFIG: the MTA keeps the mail queued until the administrator fixes
    // the file, where 78 would bounce every message to its sender.
    return fail(exit_tempfail, "4.3.5", e.what());
  }
  auth::PasswdFile passdb(config->auth.passwd_file);
  try {
    passdb.load();
  } catch (const std::exception& e) {
    return fail(exit_tempfail, "4.3.0", fmt::format("user database unavailable: {}", e.what()));
  }
  std::optional<store::MaildirStore> store;
  try {
    store.emplace(config->mail.maildir);
    // Mail written as root would be unreadable to the POP3 server running as [server] user.
    if (::geteuid() == 0) net::drop_privileges(config->server.user, config->server.group);
  } catch (const std::exception& e) {
    return fail(exit_tempfail, "4.3.5", e.what());
  }

  const delivery::Deliverer deliverer(passdb, *store, config->delivery);
  const delivery::Lookup lookup = deliverer.lookup(command.user);
  if (lookup.status != DeliveryStatus::delivered) {
    return report({lookup.status, lookup.detail, {}, false});
  }

  StdinMessage message;
  try {
    message = read_stdin_message(config->delivery.max_message_size);
  } catch (const std::system_error& e) {
    return fail(exit_ioerr, "5.3.0",
                fmt::format("cannot read the message from standard input: {}", e.code().message()));
  }
  if (message.too_large) {
    return fail(exit_noperm, "5.3.4",
                fmt::format("message too large: more than {} bytes, the limit is {}",
                            config->delivery.max_message_size,
                            config::format_size(config->delivery.max_message_size)));
  }

  delivery::Recipient recipient = *lookup.recipient;
  delivery::Envelope envelope;
  if (command.recipient) recipient.address = *command.recipient;
  envelope.add_delivered_to = command.recipient.has_value();
  if (command.sender || message.sender) {
    envelope.has_sender = true;
    envelope.sender = command.sender ? *command.sender : *message.sender;
  }
  return report(deliverer.deliver(recipient, envelope, message.text));
}

}  // namespace postern::cli
