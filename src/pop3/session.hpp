// pop3::Session: the whole POP3 server dialogue (RFC 1939, RFC 2449) as a sans-I/O state machine.
// Bytes go in with receive(); replies come out of output(); next() says what the driver must do.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/sasl/mechanism.hpp"
#include "pop3/command.hpp"
#include "pop3/line_reader.hpp"
#include "pop3/reply.hpp"
#include "store/maildrop.hpp"

namespace postern::pop3 {

struct SessionOptions {
  std::string hostname = "localhost";
  // USER/PASS on this connection before TLS (allow_plaintext, or a trusted peer); once TLS is
  // active they are always allowed.
  bool plaintext_login_allowed = true;
  bool starttls_offered = false;      // the listener offers STLS (RFC 2595)
  bool tls_active = false;            // implicit TLS: the handshake happened before the greeting
  std::size_t max_bad_commands = 10;  // consecutive; then -ERR and close
  std::size_t max_auth_failures = 3;  // per connection; then -ERR and close
  std::size_t max_line = 255;         // RFC 2449: command lines, CRLF included
  std::size_t output_high_water = 64 * 1024;  // next() asks for a flush above this
  // SASL (RFC 5034): the mechanisms AUTH accepts and CAPA lists, strongest first. The driver
  // computes them (auth::sasl::available_mechanisms) and updates them after STLS.
  std::vector<std::string> sasl_mechanisms;
  std::size_t max_sasl_line = 16 * 1024;  // client responses during AUTH (JWTs are long)
  // APOP (RFC 1939 section 7): the greeting then carries a timestamp. Off by default: it needs
  // plaintext-equivalent stored secrets, and clients that see a timestamp try APOP first.
  bool apop_enabled = false;
  std::string apop_timestamp;  // "<...>"; empty: start() makes a unique one
  // How the driver checks OAUTHBEARER/XOAUTH2 tokens (unset: not offered). The session itself
  // never reads it; it travels here so that one options struct configures a listener.
  std::shared_ptr<const auth::sasl::OAuthConfig> oauth;
};

// A unique APOP greeting timestamp, "<pid.counter.random@hostname>".
std::string make_apop_timestamp(std::string_view hostname);

// What the driver does next. The session waits, doing nothing, until the driver reports back
// through the matching on_*() call.
namespace action {
struct NeedInput {};   // read more bytes and receive() them; EOF means the client went away
struct Flush {};       // write output() now, then call next() again
struct Authenticate {  // check the credentials, then on_authenticated()
  std::string user;
  std::string password;
};
struct Apop {  // check digest against user's stored secret, then on_authenticated()
  std::string user;
  std::string timestamp;  // the greeting's "<...>"
  std::string digest;     // 32 hex digits as the client sent them
};
// AUTH: make the mechanism, step() it with `initial`, then on_sasl_step().
struct SaslStart {
  std::string mechanism;               // upper case, one of SessionOptions::sasl_mechanisms
  std::optional<std::string> initial;  // decoded; nullopt when the client sent none
};
// step() the mechanism with the client's response, then on_sasl_step().
struct SaslContinue {
  std::string response;  // decoded
};
struct OpenMaildrop {  // open and lock user's maildrop, then on_maildrop_opened/failed()
  std::string user;
};
struct SendMessage {  // open message `index`, then message_unavailable() or message_started();
  std::size_t index;  // stream it through MessageEncoder(top_lines); message_finished()
  std::optional<std::uint64_t> top_lines;
};
struct Commit {  // UPDATE state: remove these messages durably, then on_committed()
  std::vector<std::size_t> deletions;
};
struct StartTls {};  // write output(), run the TLS handshake, then on_tls_started(); on failure
                     // close the connection
struct Close {};     // write output(), then close the connection
}  // namespace action

using Action = std::variant<action::NeedInput, action::Flush, action::Authenticate, action::Apop,
                            action::SaslStart, action::SaslContinue, action::OpenMaildrop,
                            action::SendMessage, action::Commit, action::StartTls, action::Close>;

enum class SessionState { authorization, transaction, update, closed };

struct SessionStats {
  std::uint64_t retrieved = 0;  // RETR and TOP commands answered with content
  std::uint64_t retrieved_octets = 0;
  std::uint64_t deleted = 0;  // deletions made durable at QUIT
};

class Session {
 public:
  explicit Session(SessionOptions options);

  // Puts the greeting into output(). Call once, first.
  void start();
  void receive(std::string_view bytes);
  Action next();

  std::string& output() { return output_; }

  // Answers Authenticate and Apop.
  void on_authenticated(bool ok, bool temporary_failure = false);
  // Answers SaslStart and SaslContinue. user: the mechanism's user(), read on success only.
  // A failure must already have been logged and delayed by the driver.
  void on_sasl_step(const auth::sasl::Step& step, std::string_view user);
  // The mechanisms change with TLS (PLAIN and LOGIN need it unless plaintext is allowed).
  void set_sasl_mechanisms(std::vector<std::string> mechanisms) {
    options_.sasl_mechanisms = std::move(mechanisms);
  }
  void on_maildrop_opened(std::span<const store::MessageInfo> messages);
  void on_maildrop_failed(store::StoreErrc code, std::string_view reason);
  void message_unavailable(store::StoreErrc code);
  void message_started();  // puts "+OK ..." into output(); the content follows
  void message_finished(std::uint64_t content_octets);
  void on_committed(std::optional<store::StoreErrc> failure);
  void on_tls_started();

  // A user name refused by USER before any lookup (traversal attempts and the like), once, for
  // the driver's log: the session itself does no I/O.
  std::optional<std::string> take_rejected_user() {
    auto name = std::move(rejected_user_);
    rejected_user_.reset();
    return name;
  }

  const SessionOptions& options() const { return options_; }
  SessionState state() const { return state_; }
  bool tls_active() const { return tls_active_; }
  // Received bytes not yet taken as a command line.
  std::size_t buffered_input() const { return reader_.buffered(); }
  const std::string& user() const { return user_; }
  const SessionStats& stats() const { return stats_; }
  // Why the session ended: "quit", "timeout" (set by the driver), "too many bad commands" ...
  const std::string& close_reason() const { return close_reason_; }
  void set_close_reason(std::string reason) { close_reason_ = std::move(reason); }

 private:
  enum class Waiting { nothing, auth, sasl, maildrop, message, commit, tls };
  // Where an AUTH exchange stands between client lines.
  enum class Sasl { none, awaiting_response, awaiting_final_ack };

  std::optional<Action> dispatch(const Command& command);
  std::optional<Action> bad_command(RespCode code, std::string_view text);
  std::optional<Action> close_with(std::string reason);
  // Close when an error reply already ended the session (too many bad commands), else nothing.
  std::optional<Action> closed_action() const;
  bool plain_ok();
  bool check_user_name(std::string_view name);

  // AUTHORIZATION
  std::optional<Action> cmd_capa();
  std::optional<Action> cmd_user(const Command& command);
  std::optional<Action> cmd_pass(const Command& command);
  std::optional<Action> cmd_quit();
  std::optional<Action> cmd_stls();
  std::optional<Action> cmd_apop(const Command& command);
  std::optional<Action> cmd_auth(const Command& command);
  std::optional<Action> list_mechanisms();
  std::optional<Action> sasl_line(const Line& line);
  void end_sasl();
  void authentication_failed();
  // TRANSACTION
  std::optional<Action> cmd_stat();
  std::optional<Action> cmd_list(const Command& command);
  std::optional<Action> cmd_uidl(const Command& command);
  std::optional<Action> cmd_retr(const Command& command);
  std::optional<Action> cmd_top(const Command& command);
  std::optional<Action> cmd_dele(const Command& command);
  std::optional<Action> cmd_rset();
  std::optional<Action> cmd_noop();

  enum class Listing { none, list, uidl };
  std::optional<Action> listing_command(const Command& command, Listing kind,
                                        std::string_view header);
  std::optional<Action> send_message(std::size_t index, std::optional<std::uint64_t> top_lines);
  void append_listing_line(Listing kind, std::size_t index);

  // Resolves a message-number argument; on failure writes the -ERR and returns nullopt.
  std::optional<std::size_t> message_index(std::string_view arg);
  // Continues a LIST or UIDL listing where the last flush left it.
  void continue_listing();
  std::pair<std::uint64_t, std::uint64_t> visible_totals() const;

  SessionOptions options_;
  LineReader reader_;
  std::string output_;
  SessionState state_ = SessionState::authorization;
  Waiting waiting_ = Waiting::nothing;
  std::optional<Action> queued_;  // returned by the next next(), before any input
  bool tls_active_ = false;

  std::string user_;  // from USER (then the authenticated user)
  bool have_user_ = false;
  std::optional<std::string> rejected_user_;
  std::size_t bad_commands_ = 0;
  std::size_t auth_failures_ = 0;
  Sasl sasl_ = Sasl::none;

  std::span<const store::MessageInfo> messages_;
  std::vector<bool> deleted_;
  std::size_t deleted_count_ = 0;
  std::optional<std::size_t> pending_message_;
  bool pending_is_top_ = false;

  Listing listing_ = Listing::none;
  std::size_t listing_next_ = 0;

  SessionStats stats_;
  std::string close_reason_;
};

}  // namespace postern::pop3
