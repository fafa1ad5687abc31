// ClientLoops (see client_loops.hpp).
#include "client_loops.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>

namespace postern::bench {

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

ClientLoops::ClientLoops(const CommonOptions& common, const LoopOptions& loop, ErrorLog& errors)
    : common_(common), loop_(loop), errors_(errors) {
  if (common.target.tls) tls_.emplace(common.target);
}

bool ClientLoops::take() {
  if (errors_.too_many()) return false;
  if (loop_.count != 0 && started_ >= loop_.count) return false;
  if (Clock::now() >= stop_at_) return false;
  ++started_;
  return true;
}

asio::awaitable<void> ClientLoops::loop(unsigned index, Watchdog& watchdog) {
  while (take()) {
    try {
      co_await iteration(index, watchdog);
      ++completed_;
    } catch (const BenchError& e) {
      errors_.add(e.kind(), common_.users[index], e.what());
    } catch (const std::exception& e) {
      errors_.add(ErrorKind::io, common_.users[index], e.what());
    }
  }
}

asio::awaitable<void> ClientLoops::client(unsigned index) {
  Watchdog watchdog(io_.get_executor(), common_.target.timeout);
  co_await watched(loop(index, watchdog), watchdog);
}

LoopResult ClientLoops::run() {
  const auto start = Clock::now();
  const double cpu_start = cpu_seconds();
  stop_at_ = start + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(loop_.seconds));
  for (unsigned i = 0; i < loop_.clients; ++i) {
    asio::co_spawn(io_, client(i), asio::detached);
  }
  io_.run();
  LoopResult result;
  result.completed = completed_;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.client_cpu = (cpu_seconds() - cpu_start) / result.seconds;
  return result;
}

}  // namespace postern::bench
