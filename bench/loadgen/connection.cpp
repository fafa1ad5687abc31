// Connection and Watchdog (see connection.hpp).
#include "connection.hpp"

#include <fmt/format.h>

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "errors.hpp"

namespace postern::bench {
namespace {

using namespace asio::experimental::awaitable_operators;

constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> capture(asio::awaitable<void> work, std::exception_ptr& failure) {
  try {
    co_await std::move(work);
  } catch (...) {
    failure = std::current_exception();
  }
}

}  // namespace

asio::awaitable<void> watched(asio::awaitable<void> work, Watchdog& watchdog) {
  std::exception_ptr failure;
  co_await (capture(std::move(work), failure) || watchdog.run());
  if (failure) std::rethrow_exception(failure);
}

TlsContext::TlsContext(const Target& target) : context_(asio::ssl::context::tls_client) {
  SSL_CTX_set_min_proto_version(context_.native_handle(), TLS1_2_VERSION);
  if (target.ca_file.empty()) {
    context_.set_verify_mode(asio::ssl::verify_none);
  } else {
    context_.load_verify_file(target.ca_file);
    context_.set_verify_mode(asio::ssl::verify_peer);
  }
}

Watchdog::Watchdog(const asio::any_io_executor& executor, std::chrono::milliseconds timeout)
    : timer_(executor), timeout_(timeout) {}

asio::awaitable<void> Watchdog::run() {
  for (;;) {
    // With nothing to watch, wake up once a timeout anyway: cheap, and no special case.
    timer_.expires_at(connection_ != nullptr ? deadline_ : Clock::now() + timeout_);
    const auto [ec] = co_await timer_.async_wait(as_tuple);
    if (ec == asio::error::operation_aborted) co_return;  // the loop it guards has ended
    if (connection_ != nullptr && Clock::now() >= deadline_) {
      Connection* expired = connection_;
      connection_ = nullptr;
      expired->expire();
    }
  }
}

void Watchdog::touch(Connection* connection) {
  connection_ = connection;
  deadline_ = Clock::now() + timeout_;
}

void Watchdog::forget(const Connection* connection) {
  if (connection_ == connection) connection_ = nullptr;
}

Connection::Connection(const asio::any_io_executor& executor, TlsContext* tls, Watchdog* watchdog)
    : watchdog_(watchdog) {
  if (tls != nullptr) {
    tls_.emplace(executor, tls->get());
  } else {
    plain_.emplace(executor);
  }
}

Connection::~Connection() {
  if (watchdog_ != nullptr) watchdog_->forget(this);
}

asio::ip::tcp::socket& Connection::socket() {
  return tls_ ? tls_->next_layer() : *plain_;
}

void Connection::fail(std::string_view operation, const std::error_code& ec) const {
  if (expired_) {
    throw BenchError(ErrorKind::io, fmt::format("{}: nothing moved for {} s (timed out)", operation,
                                                timeout_.count() / 1000.0));
  }
  throw BenchError(ErrorKind::io, fmt::format("{}: {}", operation, ec.message()));
}

asio::awaitable<void> Connection::open(const Target& target, SSL_SESSION* resume) {
  timeout_ = target.timeout;
  if (watchdog_ != nullptr) watchdog_->touch(this);
  const auto [ec] = co_await socket().async_connect(target.endpoint, as_tuple);
  if (ec) fail(fmt::format("connect to {}", target.endpoint.port()), ec);
  // One command, one reply: Nagle's algorithm would only add delays a real client avoids.
  socket().set_option(asio::ip::tcp::no_delay(true));
  if (!tls_) co_return;
  SSL* ssl = tls_->native_handle();
  // SSL_set_tlsext_host_name() is a macro with a C cast; this is what it expands to.
  SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
           const_cast<char*>(target.server_name.c_str()));
  if (!target.ca_file.empty()) {
    tls_->set_verify_callback(asio::ssl::host_name_verification(target.server_name));
  }
  if (resume != nullptr) SSL_set_session(ssl, resume);
  if (watchdog_ != nullptr) watchdog_->touch(this);
  const auto [handshake_ec] =
      co_await tls_->async_handshake(asio::ssl::stream_base::client, as_tuple);
  if (handshake_ec) fail("TLS handshake", handshake_ec);
}

asio::awaitable<std::size_t> Connection::read_some(char* data, std::size_t size) {
  if (watchdog_ != nullptr) watchdog_->touch(this);
  std::error_code ec;
  std::size_t n = 0;
  if (tls_) {
    std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(data, size), as_tuple);
  } else {
    std::tie(ec, n) = co_await plain_->async_read_some(asio::buffer(data, size), as_tuple);
  }
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) co_return 0;
  if (ec) fail("read", ec);
  co_return n;
}

asio::awaitable<void> Connection::write_all(std::string_view data) {
  if (watchdog_ != nullptr) watchdog_->touch(this);
  std::error_code ec;
  if (tls_) {
    std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, asio::buffer(data), as_tuple);
  } else {
    std::tie(ec, std::ignore) = co_await asio::async_write(*plain_, asio::buffer(data), as_tuple);
  }
  if (ec) fail("write", ec);
}

void Connection::close() {
  std::error_code ignored;
  socket().close(ignored);
}

void Connection::expire() {
  expired_ = true;
  close();
}

bool Connection::resumed() {
  return tls_ && SSL_session_reused(tls_->native_handle()) == 1;
}

SslSession Connection::session() {
  if (!tls_) return nullptr;
  SSL* ssl = tls_->native_handle();
  // The session ended with QUIT: mark it shut down cleanly. Otherwise freeing the SSL (without
  // the close_notify exchange a client has no reason to wait for) marks the session not
  // resumable, and resumption would silently never happen.
  SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  return SslSession(SSL_get1_session(ssl));
}

}  // namespace postern::bench
