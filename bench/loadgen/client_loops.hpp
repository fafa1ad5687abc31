// N clients, each running one iteration after another on a single event loop until the budget
// is spent: the shared engine of the rate scenarios (sessions/s, logins/s).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <optional>

#include "connection.hpp"
#include "errors.hpp"
#include "scenarios.hpp"

namespace postern::bench {

struct LoopResult {
  std::uint64_t completed = 0;  // iterations that ran without an error
  double seconds = 0;           // first start to last finish
  double client_cpu = 0;        // this process's CPU time / seconds (1.0 = one core busy)
};

class ClientLoops {
 public:
  ClientLoops(const CommonOptions& common, const LoopOptions& loop, ErrorLog& errors);
  virtual ~ClientLoops() = default;
  ClientLoops(const ClientLoops&) = delete;
  ClientLoops& operator=(const ClientLoops&) = delete;

  LoopResult run();

 protected:
  // One unit of work for client `client`; throws BenchError on anything wrong.
  virtual asio::awaitable<void> iteration(unsigned client, Watchdog& watchdog) = 0;
  TlsContext* tls() { return tls_ ? &*tls_ : nullptr; }

  asio::io_context io_{1};
  const CommonOptions& common_;

 private:
  asio::awaitable<void> client(unsigned index);
  asio::awaitable<void> loop(unsigned index, Watchdog& watchdog);
  bool take();

  const LoopOptions& loop_;
  ErrorLog& errors_;
  std::optional<TlsContext> tls_;
  Clock::time_point stop_at_;
  std::uint64_t started_ = 0;
  std::uint64_t completed_ = 0;
};

// Process CPU time (user + system) in seconds, for the client_cpu figures.
double cpu_seconds();

}  // namespace postern::bench
