// Scenario 1, full sessions: what a mail client does every few minutes, N at a time. No DELE,
// so the maildrops stay as the fixture wrote them and every session checks the same mail.
#include <fmt/format.h>

#include "client_loops.hpp"
#include "pop3_client.hpp"

namespace postern::bench {
namespace {

class SessionsRun : public ClientLoops {
 public:
  SessionsRun(const CommonOptions& common, const LoopOptions& loop, bool resume, ErrorLog& errors)
      : ClientLoops(common, loop, errors), resume_(resume), last_sessions_(loop.clients) {
    for (unsigned i = 0; i < loop.clients; ++i) {
      maildrops_.push_back(expect_maildrop(MailSet::session, common.users[i], common.params, true));
    }
  }

  std::uint64_t messages = 0;
  std::uint64_t octets = 0;
  std::uint64_t resumed = 0;
  std::uint64_t handshakes = 0;

 protected:
  asio::awaitable<void> iteration(unsigned client, Watchdog& watchdog) override {
    const ExpectedMaildrop& expected = maildrops_[client];
    Connection connection(io_.get_executor(), tls(), &watchdog);
    SSL_SESSION* offer = resume_ ? last_sessions_[client].get() : nullptr;
    co_await connection.open(common_.target, offer);
    if (common_.target.tls) {
      ++handshakes;
      if (connection.resumed()) ++resumed;
    }
    Pop3Client pop3(connection);
    co_await pop3.greeting();
    co_await pop3.login(expected.user, common_.password);
    co_await pop3.check_stat(expected);
    const std::vector<std::uint64_t> sizes = co_await pop3.list(expected);
    const UidList uids = co_await pop3.uidl(expected);
    check_unique(uids);
    std::vector<std::uint64_t> sent_by(expected.count, 0);  // message index - 1 -> RETR number
    for (std::uint64_t n = 1; n <= expected.count; ++n) {
      const ExpectedMessage* message = co_await pop3.retr(n, expected);
      std::uint64_t& first = sent_by[message->index - 1];
      if (first != 0) {
        throw BenchError(ErrorKind::wrong_data,
                         fmt::format("RETR {} sent {} message {} again (RETR {} sent it first)", n,
                                     expected.user, message->index, first));
      }
      first = n;
      if (sizes[n - 1] != message->octets) {
        throw BenchError(
            ErrorKind::wrong_data,
            fmt::format("LIST {} said {} octets, but RETR {} sent {} message {} of "
                        "{} octets",
                        n, sizes[n - 1], n, expected.user, message->index, message->octets));
      }
    }
    co_await pop3.quit();
    if (resume_) last_sessions_[client] = connection.session();
    messages += expected.count;
    octets += expected.octets;
  }

 private:
  bool resume_;
  std::vector<ExpectedMaildrop> maildrops_;
  std::vector<SslSession> last_sessions_;
};

}  // namespace

nlohmann::json run_sessions(const CommonOptions& common, const LoopOptions& loop, bool resume,
                            ErrorLog& errors) {
  SessionsRun run(common, loop, resume, errors);
  const LoopResult result = run.run();
  nlohmann::json out = {{"sessions", result.completed},
                        {"messages", run.messages},
                        {"octets", run.octets},
                        {"seconds", result.seconds},
                        {"client_cpu", result.client_cpu},
                        {"sessions_per_s", static_cast<double>(result.completed) / result.seconds}};
  if (common.target.tls) {
    out["tls_handshakes"] = run.handshakes;
    out["tls_resumed"] = run.resumed;
    out["certificate_verified"] = !common.target.ca_file.empty();
  }
  return out;
}

}  // namespace postern::bench
