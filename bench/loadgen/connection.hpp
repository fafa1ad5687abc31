// One client connection, plain TCP or implicit TLS, with a watchdog that bounds every wait: a
// server that stops answering costs the benchmark one timeout, never a hang.
#pragma once

#include <openssl/ssl.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace postern::bench {

using Clock = std::chrono::steady_clock;

struct Target {
  asio::ip::tcp::endpoint endpoint;
  bool tls = false;
  std::string ca_file;  // empty: the server certificate is not verified (reported as such)
  std::string server_name = "localhost";
  std::chrono::milliseconds timeout{60'000};
};

// The client side of TLS for a whole run: TLS 1.2 or newer, SNI, and with a CA file the
// certificate chain and host name are verified, as a real mail client would.
class TlsContext {
 public:
  explicit TlsContext(const Target& target);
  asio::ssl::context& get() { return context_; }

 private:
  asio::ssl::context context_;
};

struct SslSessionFree {
  void operator()(SSL_SESSION* session) const { SSL_SESSION_free(session); }
};
using SslSession = std::unique_ptr<SSL_SESSION, SslSessionFree>;

class Connection;

// Closes the connection it watches when no operation made progress for `timeout`. One per
// client loop, run beside it with watched().
class Watchdog {
 public:
  Watchdog(const asio::any_io_executor& executor, std::chrono::milliseconds timeout);
  asio::awaitable<void> run();
  void touch(Connection* connection);
  void forget(const Connection* connection);

 private:
  asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  Clock::time_point deadline_ = Clock::time_point::max();
  Connection* connection_ = nullptr;
};

// Runs `work` beside `watchdog` and rethrows what `work` threw. Asio's `||` waits for one of
// its operands to *succeed*, so an exception must not pass through it: it would wait for the
// watchdog, which never ends by itself.
asio::awaitable<void> watched(asio::awaitable<void> work, Watchdog& watchdog);

class Connection {
 public:
  Connection(const asio::any_io_executor& executor, TlsContext* tls, Watchdog* watchdog);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // TCP connect and, with TLS, the handshake, offering `resume` (may be null) for resumption.
  asio::awaitable<void> open(const Target& target, SSL_SESSION* resume);
  // Bytes read into data (at least one); 0 when the server closed the connection.
  asio::awaitable<std::size_t> read_some(char* data, std::size_t size);
  asio::awaitable<void> write_all(std::string_view data);
  void close();

  bool resumed();
  SslSession session();  // the TLS session to offer next time (null for plain TCP)
  void set_watchdog(Watchdog* watchdog) {
    if (watchdog_ != nullptr) watchdog_->forget(this);
    watchdog_ = watchdog;
  }
  void expire();  // the watchdog's verdict: close, and report later reads as a timeout

 private:
  asio::ip::tcp::socket& socket();
  [[noreturn]] void fail(std::string_view operation, const std::error_code& ec) const;

  std::optional<asio::ip::tcp::socket> plain_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
  Watchdog* watchdog_;
  std::chrono::milliseconds timeout_{0};
  bool expired_ = false;
};

}  // namespace postern::bench
