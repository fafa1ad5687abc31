#include "net/pop3_connection.hpp"

#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>

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
class Transport {
 public:
  using ReadResult = std::tuple<asio::error_code, std::size_t>;

  explicit Transport(tcp::socket socket) : socket_(std::move(socket)) {}

  tcp::socket& socket() { return socket_; }
  // TLS has begun: from here on a raw byte on the socket would corrupt the stream.
  bool tls_started() const { return tls_ != nullptr; }
  // The handshake succeeded.
  bool tls() const { return established_; }
  // "TLSv1.3" once TLS is up, "no" before.
  std::string tls_version() const {
    return established_ ? SSL_get_version(tls_->native_handle()) : "no";
  }

  awaitable<ReadResult> read_some(asio::mutable_buffer buffer) {
    if (tls_) co_return co_await tls_->async_read_some(buffer, as_tuple);
    co_return co_await socket_.async_read_some(buffer, as_tuple);
  }

  awaitable<ReadResult> write_some(asio::const_buffer buffer) {
    if (tls_) co_return co_await tls_->async_write_some(buffer, as_tuple);
    co_return co_await socket_.async_write_some(buffer, as_tuple);
  }

  // Puts TLS over the socket with the certificates of `contexts`, kept alive as long as this
  // connection whatever a SIGHUP reload does meanwhile. Then handshake().
  void begin_tls(std::shared_ptr<TlsGeneration> contexts) {
    contexts_ = std::move(contexts);
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, contexts_->context());
  }

  awaitable<asio::error_code> handshake() {
    const auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple);
    established_ = !ec;
    co_return ec;
  }

  // Sends close_notify and waits (briefly, the caller bounds it) for the peer's.
  awaitable<void> shutdown_tls() {
    if (!established_) co_return;
    const auto [ec] = co_await tls_->async_shutdown(as_tuple);
    (void)ec;  // the peer may simply close: nothing left to do either way
  }

 private:
  tcp::socket socket_;
  std::shared_ptr<TlsGeneration> contexts_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;  // after contexts_: destroyed first
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
    remote_ =
        ec ? "unknown" : fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
  }

  awaitable<void> run() {
    using namespace asio::experimental::awaitable_operators;
    const auto result = co_await (drive() || watchdog(deadline_, transport_.socket()));
    maildrop_.reset();
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
    session_.start();
    for (;;) {
      auto action = session_.next();
      report_rejected_user();
      if (std::holds_alternative<pop3::action::Close>(action)) {
        // Unlock before the last reply goes out: a client that reconnects the moment it reads
        // "+OK" to QUIT must find its maildrop free.
        maildrop_.reset();
        co_await flush();
        co_return;
      }
      if (!co_await flush()) co_return;
      if (std::holds_alternative<pop3::action::NeedInput>(action)) {
        if (!co_await read_more()) co_return;
      } else if (auto* a = std::get_if<pop3::action::Authenticate>(&action)) {
        co_await authenticate(*a);
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
      session_.on_authenticated(true);
      co_return;
    }
    spdlog::warn("auth-failed user={} remote={} reason={}", log_value(request.user), remote_,
                 log_value(result.reason));
    session_.on_authenticated(false, result.status == auth::AuthStatus::temp_failure);
  }

  awaitable<void> open_maildrop() {
    store::MaildropOwner owner{record_ ? record_->user : session_.user(),
                               record_ ? record_->home : std::string()};
    auto& store = services_.store;
    try {
      auto open = [&store, &owner] { return store.open(owner); };
      maildrop_ = co_await services_.pool.run(open);
    } catch (const store::StoreError& e) {
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

  awaitable<bool> send_message(const pop3::action::SendMessage& request) {
    auto* maildrop = maildrop_.get();
    std::unique_ptr<store::MessageSource> source;
    try {
      auto open = [maildrop, index = request.index] { return maildrop->open_message(index); };
      source = co_await services_.pool.run(open);
    } catch (const store::StoreError& e) {
      spdlog::warn("message-unavailable user={} remote={} message={} reason={}",
                   log_value(session_.user()), remote_, request.index + 1, log_value(e.what()));
      session_.message_unavailable(e.code());
      co_return true;
    }
    session_.message_started();
    if (!co_await flush()) co_return false;
    pop3::MessageEncoder encoder(request.top_lines);
    std::vector<char> chunk(message_chunk);
    std::string encoded;
    for (bool more = true; more;) {
      std::size_t n = 0;
      try {
        auto read = [&source, &chunk] { return source->read(chunk); };
        n = co_await services_.pool.run(read);
      } catch (const store::StoreError& e) {
        // The +OK is out: the only honest thing left is to drop the connection.
        spdlog::error("message-read-failed user={} remote={} message={} reason={}",
                      log_value(session_.user()), remote_, request.index + 1, log_value(e.what()));
        session_.set_close_reason("message read error");
        co_return false;
      }
      if (n == 0) break;
      more = encoder.feed(std::string_view(chunk.data(), n), encoded);
      if (!co_await write(encoded)) co_return false;
      encoded.clear();
    }
    encoder.finish(encoded);
    if (!co_await write(encoded)) co_return false;
    session_.message_finished(encoder.content_octets());
    co_return true;
  }

  awaitable<void> commit(const pop3::action::Commit& request) {
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
  std::unique_ptr<store::Maildrop> maildrop_;  // holds the maildrop lock while logged in
  bool logged_in_ = false;
};

}  // namespace

awaitable<void> serve_pop3(tcp::socket socket, const Pop3Services& services, config::TlsMode tls) {
  Pop3Connection connection(std::move(socket), services, tls);
  co_await connection.run();
}

}  // namespace postern::net
