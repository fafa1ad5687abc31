// lmtp::Session: the whole LMTP server dialogue (RFC 2033 over RFC 5321 command syntax) as a
// sans-I/O state machine. Bytes go in with receive(); replies come out of output(); next() says
// what the driver must do, and the session waits until the driver reports back.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lmtp/body_decoder.hpp"
#include "lmtp/command.hpp"
#include "lmtp/line_reader.hpp"

namespace postern::lmtp {

struct SessionOptions {
  std::string hostname = "localhost";
  std::uint64_t max_message_size = 50ull << 20;  // advertised as SIZE; larger: 552 5.3.4
  std::size_t max_recipients = 1000;             // accepted per transaction; then 452 4.5.3
  std::size_t max_bad_commands = 10;             // consecutive; then 421 4.7.0 and close
  std::size_t max_line = 512;                    // RFC 5321 4.5.3.1.4: command lines, CRLF included
  std::size_t output_high_water = 64 * 1024;     // next() asks for a flush above this
};

// What the driver does next. The session waits, doing nothing, until the driver reports back
// through the matching on_*() call.
namespace action {
struct NeedInput {};  // read more bytes and receive() them; EOF means the client went away
struct Flush {};      // write output() now, then call next() again
// RCPT TO: look the address up (and check its quota for `size` octets), then on_recipient().
struct CheckRecipient {
  std::string address;     // as given, without brackets
  std::uint64_t size = 0;  // MAIL FROM's SIZE= when declared, else 0
};
// The message is complete: deliver it to every recipient, then on_delivered() with one outcome
// per recipient, in this order. Nothing may be reported delivered before it is durable.
struct Deliver {
  std::string sender;                   // MAIL FROM's address; empty for the null sender <>
  std::vector<std::string> recipients;  // the accepted RCPT TO addresses, in RCPT order
  std::string message;                  // LF line ends, dot-unstuffed
  std::uint64_t octets = 0;             // the size as sent (CRLF line ends)
};
struct Close {};  // write output(), then close the connection
}  // namespace action

using Action = std::variant<action::NeedInput, action::Flush, action::CheckRecipient,
                            action::Deliver, action::Close>;

// The driver's answer to CheckRecipient.
enum class RecipientStatus {
  accepted,           // 250 2.1.5
  unknown_user,       // 550 5.1.1
  over_quota,         // 552 5.2.2
  over_quota_defer,   // 452 4.2.2
  temporary_failure,  // 451 4.3.0
};

// The driver's answer to Deliver, per recipient.
enum class DeliveryOutcome {
  delivered,            // 250 2.0.0, only once the message is durable
  unknown_user,         // 550 5.1.1
  over_quota,           // 552 5.2.2
  over_quota_defer,     // 452 4.2.2
  too_large,            // 552 5.3.4
  temporary_failure,    // 451 4.3.0
  mailbox_unavailable,  // 550 5.2.0: the maildrop cannot be created or written
  failed,               // 554 5.3.0
};

class Session {
 public:
  explicit Session(SessionOptions options);

  // Puts the greeting into output(). Call once, first.
  void start();
  void receive(std::string_view bytes);
  Action next();

  std::string& output() { return output_; }

  void on_recipient(RecipientStatus status);
  // One outcome per recipient of the Deliver action, in its order.
  void on_delivered(std::span<const DeliveryOutcome> outcomes);

  const SessionOptions& options() const { return options_; }
  bool closed() const { return closed_; }
  // The LHLO argument, for the log; empty before LHLO.
  const std::string& client_name() const { return client_name_; }
  // Why the session ended: "quit", "too many bad commands", or what the driver set.
  const std::string& close_reason() const { return close_reason_; }
  void set_close_reason(std::string reason) { close_reason_ = std::move(reason); }
  // Whether the client is between DATA and the end of the message.
  bool reading_message() const { return body_.has_value(); }
  // Received command bytes not yet taken as a line.
  std::size_t buffered_input() const { return reader_.buffered(); }

 private:
  enum class Waiting { nothing, recipient, delivery };

  std::optional<Action> dispatch(const Command& command);
  std::optional<Action> finish_message();
  void reset_transaction();

  // Replies: ok() also ends a run of bad commands; bad() counts one and may end the session.
  void ok(int code, std::string_view status, std::string_view text);
  void reply(int code, std::string_view status, std::string_view text);
  std::optional<Action> bad(int code, std::string_view status, std::string_view text);
  std::optional<Action> close_with(std::string reason);

  std::optional<Action> cmd_lhlo(const Command& command);
  std::optional<Action> cmd_mail(const Command& command);
  std::optional<Action> cmd_rcpt(const Command& command);
  std::optional<Action> cmd_data(const Command& command);
  std::optional<Action> cmd_rset(const Command& command);
  std::optional<Action> cmd_vrfy(const Command& command);

  SessionOptions options_;
  LineReader reader_;
  std::string output_;
  Waiting waiting_ = Waiting::nothing;
  bool closed_ = false;
  std::size_t bad_commands_ = 0;
  std::string client_name_;
  std::string close_reason_;

  // The transaction: MAIL, the accepted RCPTs, then the message.
  bool have_mail_ = false;
  std::string sender_;
  std::optional<std::uint64_t> declared_size_;
  std::vector<std::string> recipients_;
  std::string pending_recipient_;    // the RCPT being checked
  std::optional<BodyDecoder> body_;  // between DATA and the end of the message
};

}  // namespace postern::lmtp
