// Scenario 5, logins/s: connect, USER/PASS, QUIT, as fast as N clients can. The cost is the
// server's: accepting, checking the password (a {PLAIN} compare or a crypt hash), opening the
// maildrop.
#include "client_loops.hpp"
#include "pop3_client.hpp"

namespace postern::bench {
namespace {

class LoginsRun : public ClientLoops {
 public:
  using ClientLoops::ClientLoops;

 protected:
  asio::awaitable<void> iteration(unsigned client, Watchdog& watchdog) override {
    Connection connection(io_.get_executor(), tls(), &watchdog);
    co_await connection.open(common_.target, nullptr);
    Pop3Client pop3(connection);
    co_await pop3.greeting();
    co_await pop3.login(common_.users[client], common_.password);
    co_await pop3.quit();
  }
};

}  // namespace

nlohmann::json run_logins(const CommonOptions& common, const LoopOptions& loop, ErrorLog& errors) {
  LoginsRun run(common, loop, errors);
  const LoopResult result = run.run();
  return {{"logins", result.completed},
          {"seconds", result.seconds},
          {"client_cpu", result.client_cpu},
          {"logins_per_s", static_cast<double>(result.completed) / result.seconds}};
}

}  // namespace postern::bench
