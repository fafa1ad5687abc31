// Scenario 4, a big maildrop: connect, USER/PASS, STAT, UIDL on 100,000 messages, timed phase by
// phase. Whether it runs cold (no index, caches dropped) or warm is the caller's doing
// (bench/compare.py prepares a fresh copy of the maildrop for each cold run).
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>

#include "client_loops.hpp"
#include "pop3_client.hpp"

namespace postern::bench {
namespace {

struct Phases {
  Clock::time_point start, greeted, logged_in, stat, uidl;
};

asio::awaitable<void> maildrop_steps(const CommonOptions& common, const ExpectedMaildrop& expected,
                                     TlsContext* tls, Phases& phases, Watchdog& watchdog) {
  const auto executor = co_await asio::this_coro::executor;
  Connection connection(executor, tls, &watchdog);
  phases.start = Clock::now();
  co_await connection.open(common.target, nullptr);
  Pop3Client pop3(connection);
  co_await pop3.greeting();
  phases.greeted = Clock::now();
  co_await pop3.login(expected.user, common.password);
  phases.logged_in = Clock::now();
  co_await pop3.check_stat(expected);
  phases.stat = Clock::now();
  const UidList uids = co_await pop3.uidl(expected);
  phases.uidl = Clock::now();
  co_await pop3.quit();
  check_unique(uids);
}

asio::awaitable<void> maildrop_session(const CommonOptions& common,
                                       const ExpectedMaildrop& expected, TlsContext* tls,
                                       Phases& phases) {
  const auto executor = co_await asio::this_coro::executor;
  Watchdog watchdog(executor, common.target.timeout);
  co_await watched(maildrop_steps(common, expected, tls, phases, watchdog), watchdog);
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

nlohmann::json run_maildrop(const CommonOptions& common, const std::string& mail_of,
                            ErrorLog& errors) {
  ExpectedMaildrop expected = expect_maildrop(
      MailSet::big, mail_of.empty() ? common.users.at(0) : mail_of, common.params, false);
  expected.user = common.users.at(0);
  asio::io_context io(1);
  std::optional<TlsContext> tls;
  if (common.target.tls) tls.emplace(common.target);
  Phases phases;
  bool ok = false;
  asio::co_spawn(io, maildrop_session(common, expected, tls ? &*tls : nullptr, phases),
                 [&](const std::exception_ptr& failure) {
                   ok = !failure;
                   if (!failure) return;
                   try {
                     std::rethrow_exception(failure);
                   } catch (const BenchError& e) {
                     errors.add(e.kind(), expected.user, e.what());
                   } catch (const std::exception& e) {
                     errors.add(ErrorKind::io, expected.user, e.what());
                   }
                 });
  io.run();
  if (!ok) return {{"messages", expected.count}, {"octets", expected.octets}};
  return {{"messages", expected.count},
          {"octets", expected.octets},
          {"seconds", seconds_between(phases.start, phases.uidl)},
          {"connect_s", seconds_between(phases.start, phases.greeted)},
          {"login_s", seconds_between(phases.greeted, phases.logged_in)},
          {"stat_s", seconds_between(phases.logged_in, phases.stat)},
          {"uidl_s", seconds_between(phases.stat, phases.uidl)}};
}

}  // namespace postern::bench
