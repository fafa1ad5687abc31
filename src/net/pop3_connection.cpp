#include "net/pop3_connection.hpp"

#include <linux/sockios.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>
#include <memory>
#include <span>

#include "auth/sasl/apop.hpp"
#include "auth/sasl/mechanism.hpp"
#include "auth/username.hpp"
#include "net/log_format.hpp"
#include "pop3/message_encoder.hpp"

namespace postern::net {
namespace {

using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk = 4096;
constexpr std::size_t message_chunk = 256 * 1024;

// The idle timer's deadline: every byte that moves pushes it forward (see STYLE.md, Asio
// timeout.cpp).
struct Deadline {
  std::chrono::milliseconds idle;
  Clock::time_point at;
  bool writing = false;  // a write is pending: the reply is not out yet
  void touch() { at = Clock::now() + idle; }
};

// Octets we sent that the peer has not yet acknowledged (Linux SIOCOUTQ).
int unsent_octets(tcp::socket& socket) {
  int queued = 0;
  if (::ioctl(socket.native_handle(), SIOCOUTQ, &queued) != 0) return 0;
  return queued;
}

// Fires when neither side moved a byte for a whole idle period. Bytes leaving our kernel send
// queue count as movement: a client slowly reading a large RETR is reading, even while the
// kernel holds megabytes for it and our last write completed long ago.
awaitable<void> watchdog(Deadline& deadline, tcp::socket& socket) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  int last_unsent = unsent_octets(socket);
  for (;;) {
    while (Clock::now() < deadline.at) {
      timer.expires_at(deadline.at);
      const auto [ec] = co_await timer.async_wait(as_tuple);
      if (ec == asio::error::operation_aborted) co_return;  // the session ended first
    }
    const int unsent = unsent_octets(socket);
    const bool draining = unsent > 0 && unsent != last_unsent;
    last_unsent = unsent;
    if (!draining) co_return;
    deadline.touch();
  }
}

// The byte stream under a session: the TCP socket, then TLS over that same socket once a
// handshake has succeeded. The driver reads and writes through it and never asks which.
//
// TLS is OpenSSL straight on the non-blocking socket, with Asio only waiting for readiness. Asio's
// ssl::stream moves every record through a 17 KiB buffer pair and one completion each, so a 700 KB
// RETR cost some 45 coroutine round trips and copies; SSL_write here writes as many records as
// the socket takes in one call. (SIGPIPE is ignored by the server: OpenSSL writes with write(2).)
class Transport {
 public:
  using ReadResult = std::tuple<asio::error_code, std::size_t>;

  explicit Transport(tcp::socket socket) : socket_(std::move(socket)) {}

  tcp::socket& socket() { return socket_; }
  // TLS has begun: from here on a raw byte on the socket would corrupt the stream.
  bool tls_started() const { return ssl_ != nullptr; }
  // The handshake succeeded.
  bool tls() const { return established_; }
  // "TLSv1.3" once TLS is up, "no" before.
  std::string tls_version() const { return established_ ? SSL_get_version(ssl_.get()) : "no"; }

  // The RFC 9266 tls-exporter channel binding (32 bytes), defined for TLS 1.3 only.
  std::optional<std::string> tls_exporter() const {
    if (!established_ || SSL_version(ssl_.get()) < TLS1_3_VERSION) return std::nullopt;
    std::string value(32, '\0');
    constexpr std::string_view label = "EXPORTER-Channel-Binding";
    if (SSL_export_keying_material(ssl_.get(), reinterpret_cast<unsigned char*>(value.data()),
                                   value.size(), label.data(), label.size(), nullptr, 0, 0) != 1) {
      return std::nullopt;
    }
    return value;
  }

  awaitable<ReadResult> read_some(asio::mutable_buffer buffer) {
    if (!ssl_) co_return co_await socket_.async_read_some(buffer, as_tuple);
    for (;;) {
      std::size_t n = 0;
      ::ERR_clear_error();
      const int rc = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
      if (rc == 1) co_return ReadResult{asio::error_code(), n};
      if (const auto ec = co_await wait_for(rc); ec) co_return ReadResult{ec, 0};
    }
  }

  awaitable<ReadResult> write_some(asio::const_buffer buffer) {
    if (!ssl_) co_return co_await socket_.async_write_some(buffer, as_tuple);
    for (;;) {
      std::size_t n = 0;
      ::ERR_clear_error();
      const int rc = SSL_write_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
      if (rc == 1) co_return ReadResult{asio::error_code(), n};
      if (const auto ec = co_await wait_for(rc); ec) co_return ReadResult{ec, 0};
    }
  }

  // Puts TLS over the socket with the certificates of `contexts`, kept alive as long as this
  // connection whatever a SIGHUP reload does meanwhile. Then handshake().
  void begin_tls(std::shared_ptr<TlsGeneration> contexts) {
    contexts_ = std::move(contexts);
    ssl_.reset(SSL_new(contexts_->context().native_handle()));
    if (!ssl_) throw std::runtime_error("cannot create a TLS session (out of memory)");
    asio::error_code ignored;
    socket_.non_blocking(true, ignored);
    // OpenSSL sends a reply's records one write at a time; with Nagle's algorithm a short last
    // record would wait for the client's delayed ACK (40 ms) behind the full ones before it.
    socket_.set_option(tcp::no_delay(true), ignored);
    SSL_set_fd(ssl_.get(), socket_.native_handle());
    // Partial writes: SSL_write returns what the socket took instead of waiting for all of it.
    // Released buffers: an idle TLS session does not hold 34 KiB of record buffers.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    SSL_set_accept_state(ssl_.get());
  }

  awaitable<asio::error_code> handshake() {
    for (;;) {
      ::ERR_clear_error();
      const int rc = SSL_do_handshake(ssl_.get());
      if (rc == 1) break;
      if (const auto ec = co_await wait_for(rc); ec) co_return ec;
    }
    established_ = true;
    co_return asio::error_code();
  }

  // Sends close_notify and waits (briefly, the caller bounds it) for the peer's.
  awaitable<void> shutdown_tls() {
    if (!established_) co_return;
    for (;;) {
      ::ERR_clear_error();
      const int rc = SSL_shutdown(ssl_.get());
      if (rc == 1) co_return;
      if (rc == 0) continue;  // ours is sent; the next call reads theirs
      if (const auto ec = co_await wait_for(rc); ec) co_return;  // the peer may simply close
    }
  }

 private:
  struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };

  // After an OpenSSL call returned rc: waits until the socket can do what OpenSSL asked for, or
  // says why the stream is over (end of stream, a TLS error, or the socket's error).
  awaitable<asio::error_code> wait_for(int rc) {
    const int error = SSL_get_error(ssl_.get(), rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      const auto direction =
          error == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write;
      const auto [ec] = co_await socket_.async_wait(direction, as_tuple);
      co_return ec;
    }
    if (error == SSL_ERROR_ZERO_RETURN) co_return asio::error::eof;
    if (error == SSL_ERROR_SYSCALL) {
      const int err = errno;
      co_return ::ERR_peek_error() == 0 && err != 0
          ? asio::error_code(err, asio::error::get_system_category())
          : asio::error_code(asio::ssl::error::stream_truncated);
    }
    const unsigned long code = ::ERR_get_error();
    co_return code != 0 ? asio::error_code(static_cast<int>(code), asio::error::get_ssl_category())
                        : asio::error_code(asio::error::connection_aborted);
  }

  tcp::socket socket_;
  std::shared_ptr<TlsGeneration> contexts_;
  std::unique_ptr<SSL, SslFree> ssl_;  // after contexts_: freed first
  bool established_ = false;
};

class Pop3Connection {
 public:
  Pop3Connection(tcp::socket socket, const Pop3Services& services, config::TlsMode tls)
      : transport_(std::move(socket)),
        services_(services),
        tls_mode_(tls),
        session_(session_options(services, tls, peer_address(transport_.socket()))),
        deadline_{services.idle_timeout, Clock::now() + services.idle_timeout} {
    asio::error_code ec;
    const auto endpoint = transport_.socket().remote_endpoint(ec);
    if (!ec) {
      const auto address = endpoint.address();
      remote_ = address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                                : fmt::format("{}:{}", address.to_string(), endpoint.port());
      peer_ip_ = parse_ip(address.to_string());
    } else {
      remote_ = "unknown";
    }
  }

  awaitable<void> run() {
    using namespace asio::experimental::awaitable_operators;
    if (!admit()) {
      asio::error_code ignored;
      transport_.socket().close(ignored);
      co_return;
    }
    const auto result = co_await (drive() || watchdog(deadline_, transport_.socket()));
    maildrop_.reset();
    session_ticket_.reset();
    if (result.index() == 0 && transport_.tls()) {
      asio::steady_timer limit(co_await asio::this_coro::executor, std::chrono::seconds(2));
      co_await (transport_.shutdown_tls() || limit.async_wait(asio::use_awaitable));
    }
    if (result.index() == 1) {
      session_.set_close_reason("idle timeout");
      // Raw bytes would corrupt a TLS stream: a TLS client just sees the connection close.
      if (!deadline_.writing && !transport_.tls_started()) {
        // Best effort: tell the client why, without waiting on a peer that does not read.
        asio::error_code ec;
        auto& socket = transport_.socket();
        socket.non_blocking(true, ec);
        socket.write_some(asio::buffer(std::string_view("-ERR Disconnected for inactivity\r\n")),
                          ec);
      }  // else mid-reply: a status line inside message data would corrupt it
    }
    log_end();
    asio::error_code ignored;
    transport_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    transport_.socket().close(ignored);
  }

 private:
  // The checks before the greeting: access rules, brute-force refusal, connection caps. A
  // refused plain-text client is told why in one line; a TLS client just sees the close.
  bool admit() {
    if (!peer_ip_) return true;
    std::string_view refusal;
    std::string_view reason;
    if (!services_.access.permitted(*peer_ip_)) {
      reason = "access rules";
    } else if (services_.throttle.is_refused(*peer_ip_, Clock::now())) {
      reason = "too many failed logins";
      refusal = "-ERR [SYS/TEMP] Too many failed logins from your address; try again later\r\n";
    } else {
      auto admitted = services_.limits.admit_connection(*peer_ip_);
      if (auto* ticket = std::get_if<ConnectionLimits::ConnectionTicket>(&admitted)) {
        connection_ticket_ = std::move(*ticket);
        return true;
      }
      const bool total =
          std::get<ConnectionLimits::Refusal>(admitted) == ConnectionLimits::Refusal::total;
      reason = total ? "too many connections" : "too many connections from this address";
      refusal = total ? "-ERR [SYS/TEMP] Too many connections; try again later\r\n"
                      : "-ERR [SYS/TEMP] Too many connections from your address\r\n";
    }
    spdlog::warn("connection-refused remote={} reason={}", remote_, log_value(reason));
    if (!refusal.empty() && tls_mode_ != config::TlsMode::implicit) {
      asio::error_code ec;
      auto& socket = transport_.socket();
      socket.non_blocking(true, ec);
      socket.write_some(asio::buffer(refusal), ec);
    }
    return false;
  }

  static std::string peer_address(tcp::socket& socket) {
    asio::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string() : endpoint.address().to_string();
  }

  static pop3::SessionOptions session_options(const Pop3Services& services, config::TlsMode tls,
                                              const std::string& peer) {
    auto options = services.session_options;
    options.plaintext_login_allowed = services.plaintext.allowed_without_tls(peer);
    options.starttls_offered = tls == config::TlsMode::starttls;
    options.tls_active = tls == config::TlsMode::implicit;
    return options;
  }

  awaitable<void> drive() {
    // Implicit TLS (POP3S): the handshake comes first, within one idle period.
    if (tls_mode_ == config::TlsMode::implicit && !co_await start_tls()) co_return;
    offer_mechanisms();
    session_.start();
    for (;;) {
      auto action = session_.next();
      report_rejected_user();
      if (std::holds_alternative<pop3::action::Close>(action)) {
        // Unlock before the last reply goes out: a client that reconnects the moment it reads
        // "+OK" to QUIT must find its maildrop free.
        maildrop_.reset();
        session_ticket_.reset();
        co_await flush();
        co_return;
      }
      if (!co_await flush()) co_return;
      if (std::holds_alternative<pop3::action::NeedInput>(action)) {
        if (!co_await read_more()) co_return;
      } else if (auto* a = std::get_if<pop3::action::Authenticate>(&action)) {
        co_await authenticate(*a);
      } else if (auto* apop_request = std::get_if<pop3::action::Apop>(&action)) {
        co_await apop(*apop_request);
      } else if (auto* start = std::get_if<pop3::action::SaslStart>(&action)) {
        co_await sasl_start(*start);
      } else if (auto* response = std::get_if<pop3::action::SaslContinue>(&action)) {
        const std::optional<std::string_view> data = response->response;
        co_await sasl_step(data);
      } else if (std::holds_alternative<pop3::action::OpenMaildrop>(action)) {
        co_await open_maildrop();
      } else if (auto* m = std::get_if<pop3::action::SendMessage>(&action)) {
        if (!co_await send_message(*m)) co_return;
      } else if (auto* c = std::get_if<pop3::action::Commit>(&action)) {
        co_await commit(*c);
      } else if (std::holds_alternative<pop3::action::StartTls>(action)) {
        // "+OK Begin TLS negotiation" is out (flushed above); the session dropped whatever
        // came after STLS in the clear.
        if (!co_await start_tls()) co_return;
        session_.on_tls_started();
        offer_mechanisms();
      }
    }
  }

  awaitable<bool> start_tls() {
    if (services_.tls == nullptr) {
      session_.set_close_reason("TLS not configured");
      co_return false;
    }
    deadline_.touch();
    transport_.begin_tls(services_.tls->current());
    const auto ec = co_await transport_.handshake();
    if (ec) {
      spdlog::info("tls-failed remote={} reason={}", remote_, log_value(ec.message()));
      session_.set_close_reason("TLS handshake failed");
      co_return false;
    }
    deadline_.touch();
    co_return true;
  }

  awaitable<bool> flush() {
    auto& out = session_.output();
    if (out.empty()) co_return true;
    const bool ok = co_await write(out);
    out.clear();
    co_return ok;
  }

  // Writes piecewise so that every bit of progress a slow reader makes moves the idle deadline:
  // a client still reading a large RETR is never timed out.
  awaitable<bool> write(std::string_view bytes) {
    while (!bytes.empty()) {
      deadline_.writing = true;
      const auto [ec, n] = co_await transport_.write_some(asio::buffer(bytes));
      deadline_.writing = false;
      if (ec) {
        session_.set_close_reason("disconnected");
        co_return false;
      }
      deadline_.touch();
      bytes.remove_prefix(n);
    }
    co_return true;
  }

  awaitable<bool> read_more() {
    std::array<char, read_chunk> buffer;
    const auto [ec, n] = co_await transport_.read_some(asio::buffer(buffer));
    if (ec) {
      session_.set_close_reason("disconnected");
      co_return false;
    }
    deadline_.touch();
    session_.receive(std::string_view(buffer.data(), n));
    co_return true;
  }

  awaitable<void> authenticate(const pop3::action::Authenticate& request) {
    auto& passdb = services_.passdb;
    auto verify = [&passdb, &request] { return passdb.verify(request.user, request.password); };
    auto result = co_await services_.pool.run(verify);
    deadline_.touch();
    if (result.status == auth::AuthStatus::ok) {
      record_ = std::move(result.record);
      login_succeeded();
      session_.on_authenticated(true);
      co_return;
    }
    co_await login_failed(request.user, result.reason);
    session_.on_authenticated(false, result.status == auth::AuthStatus::temp_failure);
  }

  auth::sasl::MechanismContext mechanism_context() {
    auth::sasl::MechanismContext context;
    auto& passdb = services_.passdb;
    // Mechanisms name the user only after success; the log of a failure wants the name tried.
    // Written on the pool thread while this connection awaits the step.
    auto* attempted = &attempted_user_;
    context.secret_lookup = [&passdb, attempted](std::string_view user) {
      attempted->assign(user);
      auto record = passdb.lookup(user);
      return record ? std::optional<std::string>(std::move(record->password)) : std::nullopt;
    };
    context.password_check = [&passdb, attempted](std::string_view user,
                                                  std::string_view password) {
      attempted->assign(user);
      return passdb.verify(user, password).status == auth::AuthStatus::ok;
    };
    const auto& options = session_.options();
    context.hostname = options.hostname;
    context.tls_active = transport_.tls();
    context.allow_plaintext_without_tls = options.plaintext_login_allowed;
    context.tls_exporter = transport_.tls_exporter();
    if (options.oauth) context.oauth = *options.oauth;
    return context;
  }

  // What AUTH offers depends on TLS: called before the greeting and again after STLS.
  void offer_mechanisms() {
    auto offered = auth::sasl::available_mechanisms(mechanism_context());
    const auto& enabled = services_.mechanisms;
    std::erase_if(offered, [&enabled](const std::string& name) {
      return std::find(enabled.begin(), enabled.end(), name) == enabled.end();
    });
    session_.set_sasl_mechanisms(std::move(offered));
  }

  awaitable<void> sasl_start(const pop3::action::SaslStart& request) {
    attempted_user_.clear();
    mechanism_ = auth::sasl::make_mechanism(request.mechanism, mechanism_context());
    if (!mechanism_) {  // offered, so only a change since (TLS) can get here
      const auto reason = fmt::format("mechanism {} unavailable", request.mechanism);
      co_await login_failed("", reason);
      session_.on_sasl_step(auth::sasl::Step{auth::sasl::StepStatus::failure, {}, reason}, "");
      co_return;
    }
    std::optional<std::string_view> initial;
    if (request.initial) initial = *request.initial;
    co_await sasl_step(initial);
  }

  // One step of the exchange on the blocking pool (mechanisms look up secrets and hash).
  // client_data points into the action, which outlives this call.
  awaitable<void> sasl_step(std::optional<std::string_view> client_data) {
    auto* mechanism = mechanism_.get();
    if (mechanism == nullptr) throw std::logic_error("SASL response without a mechanism");
    auto run_step = [mechanism, client_data] { return mechanism->step(client_data); };
    auto step = co_await services_.pool.run(run_step);
    deadline_.touch();
    if (step.status == auth::sasl::StepStatus::success) {
      const std::string user = mechanism->user();
      auto& passdb = services_.passdb;
      auto lookup = [&passdb, &user] { return passdb.lookup(user); };
      std::optional<auth::UserRecord> record;
      if (auth::is_valid_username(user)) record = co_await services_.pool.run(lookup);
      if (record) {
        record_ = std::move(record);
        login_succeeded();
        session_.on_sasl_step(step, user);
        mechanism_.reset();
        co_return;
      }
      // A bearer token can name a user the passdb does not hold: there is no maildrop to open.
      step = auth::sasl::Step{auth::sasl::StepStatus::failure, {}, "unknown or invalid user"};
    }
    if (step.status == auth::sasl::StepStatus::failure) {
      const std::string user = mechanism->user().empty() ? attempted_user_ : mechanism->user();
      const std::string reason = fmt::format("{}: {}", mechanism->name(), step.reason);
      mechanism_.reset();
      co_await login_failed(user, reason);
    }
    session_.on_sasl_step(step, "");
  }

  awaitable<void> apop(const pop3::action::Apop& request) {
    auto& passdb = services_.passdb;
    auto lookup = [&passdb, &request] { return passdb.lookup(request.user); };
    auto record = co_await services_.pool.run(lookup);
    deadline_.touch();
    std::string_view reason = "unknown user";
    if (record) {
      const auto match =
          auth::sasl::verify_apop(request.timestamp, request.digest, record->password);
      if (match.value_or(false)) {
        record_ = std::move(record);
        login_succeeded();
        session_.on_authenticated(true);
        co_return;
      }
      reason = match ? "APOP digest mismatch" : "APOP needs a plaintext-equivalent secret";
    }
    co_await login_failed(request.user, reason);
    session_.on_authenticated(false);
  }

  void login_succeeded() {
    if (peer_ip_) services_.throttle.record_success(*peer_ip_, Clock::now());
  }

  // Every failed authentication, whatever the mechanism, comes through here: it is logged for
  // fail2ban, and its reply is delayed (doubling per failure from that address). The delay is a
  // timer on this connection only: nobody else waits.
  awaitable<void> login_failed(std::string_view user, std::string_view reason) {
    spdlog::warn("auth-failed user={} remote={} reason={}", log_value(user), remote_,
                 log_value(reason));
    if (!peer_ip_) co_return;
    const auto delay = services_.throttle.record_failure(*peer_ip_, Clock::now());
    if (delay.count() <= 0) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(as_tuple);
    deadline_.touch();
  }

  awaitable<void> open_maildrop() {
    store::MaildropOwner owner{record_ ? record_->user : session_.user(),
                               record_ ? record_->home : std::string()};
    session_ticket_ = services_.limits.admit_session(owner.user);
    if (!session_ticket_) {
      spdlog::warn("login-failed user={} remote={} reason={}", log_value(owner.user), remote_,
                   log_value("too many sessions"));
      session_.on_maildrop_failed(store::StoreErrc::in_use, "too many sessions");
      co_return;
    }
    auto& store = services_.store;
    try {
      auto open = [&store, &owner] { return store.open(owner); };
      maildrop_ = co_await services_.pool.run(open);
    } catch (const store::StoreError& e) {
      session_ticket_.reset();
      spdlog::warn("login-failed user={} remote={} reason={}", log_value(owner.user), remote_,
                   log_value(e.what()));
      session_.on_maildrop_failed(e.code(),
                                  e.code() == store::StoreErrc::in_use ? "" : "server error");
      co_return;
    }
    deadline_.touch();
    logged_in_ = true;
    session_.on_maildrop_opened(maildrop_->messages());
    std::uint64_t octets = 0;
    for (const auto& m : maildrop_->messages()) octets += m.size;
    spdlog::info("login user={} remote={} tls={} messages={} octets={}", log_value(owner.user),
                 remote_, transport_.tls_version(), maildrop_->messages().size(), octets);
  }

  // Cached mail is read on this thread (openat2 RESOLVE_CACHED, preadv2 RWF_NOWAIT); only what
  // would wait for the disk goes to the blocking pool. A hand-off per open and per read was most
  // of the server's CPU in the session benchmark (futex wake-ups and context switches).
  awaitable<bool> send_message(const pop3::action::SendMessage& request) {
    auto* maildrop = maildrop_.get();
    std::unique_ptr<store::MessageSource> source = maildrop->open_message_cached(request.index);
    if (!source) {
      try {
        auto open = [maildrop, index = request.index] { return maildrop->open_message(index); };
        source = co_await services_.pool.run(open);
      } catch (const store::StoreError& e) {
        spdlog::warn("message-unavailable user={} remote={} message={} reason={}",
                     log_value(session_.user()), remote_, request.index + 1, log_value(e.what()));
        session_.message_unavailable(e.code());
        co_return true;
      }
    }
    session_.message_started();
    pop3::MessageEncoder encoder(request.top_lines);
    // Sized to the message (its CRLF size bounds the file's) between 64 KiB and 256 KiB, and not
    // zero-filled: a fresh zeroed 256 KiB buffer per RETR was over a third of the server's CPU
    // in the session benchmark. The floor keeps reads large even if a W= size in a name lies.
    const std::uint64_t listed = maildrop->messages()[request.index].size;
    const std::size_t chunk_size = static_cast<std::size_t>(
        std::clamp<std::uint64_t>(listed + 1, message_chunk / 4, message_chunk));
    // RETR promises exactly the listed octets: a file changed behind our back since the listing
    // (truncated, rewritten, replaced under the same name) must never go out as the message.
    const bool whole = !request.top_lines;
    bool changed = false;
    bool sent_any = false;
    const auto chunk_memory = std::make_unique_for_overwrite<char[]>(chunk_size);
    const std::span<char> chunk(chunk_memory.get(), chunk_size);
    // The status line, the encoded message and its terminating line leave together when they fit
    // in one chunk: one write for a typical message instead of three.
    std::string encoded;
    // The encoder may double a chunk (every LF becomes CRLF): room for that, allocated once.
    encoded.reserve(2 * chunk_size + 64);
    encoded.append(session_.output());
    session_.output().clear();
    for (bool more = true; more;) {
      std::size_t n = 0;
      if (const auto cached = source->read_cached(chunk)) {
        n = *cached;
      } else {
        try {
          auto read = [&source, &chunk] { return source->read(chunk); };
          n = co_await services_.pool.run(read);
        } catch (const store::StoreError& e) {
          // The +OK may be out: the only honest thing left is to drop the connection.
          spdlog::error("message-read-failed user={} remote={} message={} reason={}",
                        log_value(session_.user()), remote_, request.index + 1,
                        log_value(e.what()));
          session_.set_close_reason("message read error");
          co_return false;
        }
      }
      if (n == 0) break;
      more = encoder.feed(std::string_view(chunk.data(), n), encoded);
      if (whole && encoder.content_octets() > listed) {
        changed = true;
        break;
      }
      if (encoded.size() >= chunk_size) {
        if (!co_await write(encoded)) co_return false;
        encoded.clear();
        sent_any = true;
      }
    }
    if (!changed) encoder.finish(encoded);
    if (changed || (whole && encoder.content_octets() != listed)) {
      spdlog::warn("message-changed user={} remote={} message={} listed={} now={}",
                   log_value(session_.user()), remote_, request.index + 1, listed,
                   encoder.content_octets());
      auto forget = [maildrop, index = request.index] {
        maildrop->forget_cached(index);
        return true;
      };
      co_await services_.pool.run(forget);  // the next session sizes it afresh
      if (!sent_any) {                      // nothing is out yet, not even the +OK: refuse cleanly
        session_.message_unavailable(store::StoreErrc::temporary);
        co_return true;
      }
      // Part of it is out: ending with the terminator would pass it off as complete.
      session_.set_close_reason("message changed while being sent");
      co_return false;
    }
    if (!co_await write(encoded)) co_return false;
    session_.message_finished(encoder.content_octets());
    co_return true;
  }

  awaitable<void> commit(const pop3::action::Commit& request) {
    if (request.deletions.empty()) {  // nothing to remove: no reason to wake a pool thread
      session_.on_committed(std::nullopt);
      co_return;
    }
    auto* maildrop = maildrop_.get();
    std::optional<store::StoreErrc> failure;
    try {
      auto remove = [maildrop, &request] {
        maildrop->commit_deletions(request.deletions);
        return true;
      };
      co_await services_.pool.run(remove);
    } catch (const store::StoreError& e) {
      spdlog::error("commit-failed user={} remote={} reason={}", log_value(session_.user()),
                    remote_, log_value(e.what()));
      failure = e.code();
    }
    session_.on_committed(failure);
  }

  void report_rejected_user() {
    if (auto name = session_.take_rejected_user()) {
      spdlog::warn("auth-failed user={} remote={} reason={}", log_value(*name), remote_,
                   log_value("invalid user name"));
    }
  }

  void log_end() {
    if (!logged_in_) return;  // never logged in: nothing to report
    const auto& stats = session_.stats();
    const auto& reason = session_.close_reason();
    spdlog::info("logout user={} remote={} reason={} retr={} retr_bytes={} deleted={}",
                 log_value(session_.user()), remote_,
                 log_value(reason.empty() ? "disconnected" : reason), stats.retrieved,
                 stats.retrieved_octets, stats.deleted);
  }

  Transport transport_;
  const Pop3Services& services_;
  config::TlsMode tls_mode_;
  pop3::Session session_;
  Deadline deadline_;
  std::string remote_;
  std::optional<auth::UserRecord> record_;
  std::unique_ptr<auth::sasl::Mechanism> mechanism_;  // the AUTH exchange in progress
  std::string attempted_user_;  // the last user name mechanism_ looked up or checked
  std::optional<IpAddress> peer_ip_;
  std::optional<ConnectionLimits::ConnectionTicket> connection_ticket_;
  std::optional<ConnectionLimits::SessionTicket> session_ticket_;
  std::unique_ptr<store::Maildrop> maildrop_;  // holds the maildrop lock while logged in
  bool logged_in_ = false;
};

}  // namespace

awaitable<void> serve_pop3(tcp::socket socket, const Pop3Services& services, config::TlsMode tls) {
  Pop3Connection connection(std::move(socket), services, tls);
  co_await connection.run();
}

}  // namespace postern::net
