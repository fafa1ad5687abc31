// Scenario 3, idle logged-in connections: open one per user, log in, check STAT, then hold them
// all while the caller measures the server's memory; finally QUIT each (a server that dropped
// one while it was idle is reported).
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <cstdio>
#include <memory>

#include "client_loops.hpp"
#include "pop3_client.hpp"

namespace postern::bench {
namespace {

struct Held {
  Held(const asio::any_io_executor& executor, TlsContext* tls)
      : connection(executor, tls, nullptr), pop3(connection) {}
  Connection connection;
  Pop3Client pop3;
};

class IdleRun {
 public:
  IdleRun(const CommonOptions& common, unsigned parallel, ErrorLog& errors)
      : common_(common), parallel_(parallel), errors_(errors), held_(common.users.size()) {
    if (common.target.tls) tls_.emplace(common.target);
  }

  // Opens and logs in every connection; returns how many are held.
  std::size_t ramp() {
    run_workers(&IdleRun::ramp_loop);
    return static_cast<std::size_t>(
        std::count_if(held_.begin(), held_.end(), [](const auto& h) { return h != nullptr; }));
  }

  std::size_t quit_all() {
    next_ = 0;
    run_workers(&IdleRun::quit_loop);
    return quit_;
  }

 private:
  using Loop = asio::awaitable<void> (IdleRun::*)(Watchdog&);

  void run_workers(Loop loop) {
    for (unsigned i = 0; i < parallel_; ++i) asio::co_spawn(io_, worker(loop), asio::detached);
    io_.restart();
    io_.run();
  }

  asio::awaitable<void> worker(Loop loop) {
    Watchdog watchdog(io_.get_executor(), common_.target.timeout);
    co_await watched((this->*loop)(watchdog), watchdog);
  }

  asio::awaitable<void> ramp_loop(Watchdog& watchdog) {
    while (next_ < held_.size() && !errors_.too_many()) {
      const std::size_t i = next_++;
      const std::string& user = common_.users[i];
      auto held = std::make_unique<Held>(io_.get_executor(), tls_ ? &*tls_ : nullptr);
      held->connection.set_watchdog(&watchdog);
      try {
        const ExpectedMaildrop expected =
            expect_maildrop(MailSet::idle, user, common_.params, false);
        co_await held->connection.open(common_.target, nullptr);
        co_await held->pop3.greeting();
        co_await held->pop3.login(user, common_.password);
        co_await held->pop3.check_stat(expected);
        held->connection.set_watchdog(nullptr);  // idle from now on: no deadline
        held_[i] = std::move(held);
      } catch (const BenchError& e) {
        errors_.add(e.kind(), user, e.what());
      } catch (const std::exception& e) {
        errors_.add(ErrorKind::io, user, e.what());
      }
    }
  }

  asio::awaitable<void> quit_loop(Watchdog& watchdog) {
    while (next_ < held_.size()) {
      const std::size_t i = next_++;
      if (!held_[i]) continue;
      const std::string& user = common_.users[i];
      held_[i]->connection.set_watchdog(&watchdog);
      try {
        co_await held_[i]->pop3.quit();
        ++quit_;
      } catch (const BenchError& e) {
        errors_.add(e.kind(), user, fmt::format("after holding the connection idle: {}", e.what()));
      } catch (const std::exception& e) {
        errors_.add(ErrorKind::io, user, e.what());
      }
      held_[i].reset();
    }
  }

  asio::io_context io_{1};
  const CommonOptions& common_;
  unsigned parallel_;
  ErrorLog& errors_;
  std::optional<TlsContext> tls_;
  std::vector<std::unique_ptr<Held>> held_;
  std::size_t next_ = 0;
  std::size_t quit_ = 0;
};

// Until a line or end of file on stdin, or `seconds` pass.
void wait_for_release(double seconds) {
  pollfd in{STDIN_FILENO, POLLIN, 0};
  ::poll(&in, 1, static_cast<int>(seconds * 1000));
}

}  // namespace

nlohmann::json run_idle(const CommonOptions& common, unsigned parallel, double hold_seconds,
                        ErrorLog& errors) {
  IdleRun run(common, parallel, errors);
  const auto start = Clock::now();
  const std::size_t held = run.ramp();
  const double ramp_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  fmt::print("ready connections={} errors={}\n", held, errors.count());
  std::fflush(stdout);
  wait_for_release(hold_seconds);
  const std::size_t quit = run.quit_all();
  return {{"connections", held},
          {"quit", quit},
          {"ramp_seconds", ramp_seconds},
          {"logins_per_s", static_cast<double>(held) / ramp_seconds}};
}

}  // namespace postern::bench
