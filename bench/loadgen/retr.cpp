// Scenario 2, one large RETR: how close a server gets to moving a message at loopback speed.
// The client checks every octet as it arrives (memcmp against the expected stuffed form, far
// faster than the socket) and reports its own CPU use, so a client bottleneck would show.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <cerrno>
#include <cstring>
#include <thread>

#include "client_loops.hpp"
#include "pop3_client.hpp"

namespace postern::bench {
namespace {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

struct RetrTimes {
  std::vector<double> seconds;
  double cpu = 0;
  std::uint64_t octets = 0;
};

asio::awaitable<void> retr_steps(const CommonOptions& common, const ExpectedMaildrop& expected,
                                 TlsContext* tls, unsigned repeat, RetrTimes& times,
                                 Watchdog& watchdog) {
  const auto executor = co_await asio::this_coro::executor;
  Connection connection(executor, tls, &watchdog);
  co_await connection.open(common.target, nullptr);
  Pop3Client pop3(connection);
  co_await pop3.greeting();
  co_await pop3.login(expected.user, common.password);
  co_await pop3.check_stat(expected);
  const std::vector<std::uint64_t> sizes = co_await pop3.list(expected);
  for (unsigned r = 0; r < repeat; ++r) {
    const auto start = Clock::now();
    const double cpu_start = cpu_seconds();
    const ExpectedMessage* message = co_await pop3.retr(1, expected);
    times.seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    times.cpu += cpu_seconds() - cpu_start;
    if (sizes[0] != message->octets) {
      throw BenchError(ErrorKind::wrong_data,
                       fmt::format("LIST 1 said {} octets, but RETR 1 sent {} octets", sizes[0],
                                   message->octets));
    }
    times.octets = message->octets;
  }
  co_await pop3.quit();
}

asio::awaitable<void> retr_session(const CommonOptions& common, const ExpectedMaildrop& expected,
                                   TlsContext* tls, unsigned repeat, RetrTimes& times) {
  const auto executor = co_await asio::this_coro::executor;
  Watchdog watchdog(executor, common.target.timeout);
  co_await watched(retr_steps(common, expected, tls, repeat, times, watchdog), watchdog);
}

[[noreturn]] void system_fail(std::string_view what) {
  throw std::runtime_error(fmt::format("raw copy: {}: {}", what, std::strerror(errno)));
}

void pin_this_thread(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

void set_timeouts(int fd) {
  const timeval limit{60, 0};  // a stuck copy fails instead of hanging the benchmark
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
}

}  // namespace

double raw_copy_mb_per_s(const std::string& data, int sender_cpu) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) system_fail("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  // The POSIX socket API takes sockaddr*; there is no way around this cast.
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (::bind(listener, generic, length) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, generic, &length) != 0) {
    ::close(listener);
    system_fail("listen on 127.0.0.1");
  }
  // The sender plays the server: it waits for a one-octet "command", then writes everything,
  // as RETR does, from memory (no file read: this is the ceiling).
  std::thread sender([&data, listener, sender_cpu] {
    pin_this_thread(sender_cpu);
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    set_timeouts(fd);
    char request = 0;
    if (::recv(fd, &request, 1, 0) == 1) {
      std::size_t done = 0;
      while (done < data.size()) {
        const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
      }
    }
    ::close(fd);
  });
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::size_t received = 0;
  double seconds = 0;
  if (fd >= 0 && ::connect(fd, generic, length) == 0) {
    set_timeouts(fd);
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    std::vector<char> buffer(256 * 1024);  // the POP3 client's RETR buffer size
    const auto start = Clock::now();
    if (::send(fd, "R", 1, 0) == 1) {
      while (received < data.size()) {
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n <= 0) break;
        received += static_cast<std::size_t>(n);
      }
    }
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
  }
  if (fd >= 0) ::close(fd);
  ::shutdown(listener, SHUT_RDWR);  // wakes the sender if connect failed
  sender.join();
  ::close(listener);
  if (received != data.size()) {
    throw std::runtime_error(
        fmt::format("raw copy: received {} of {} octets over loopback", received, data.size()));
  }
  return static_cast<double>(data.size()) / seconds / 1e6;
}

nlohmann::json run_retr(const CommonOptions& common, unsigned repeat, bool raw_baseline,
                        int raw_sender_cpu, ErrorLog& errors) {
  const ExpectedMaildrop expected =
      expect_maildrop(MailSet::large, common.users.at(0), common.params, true);
  asio::io_context io(1);
  std::optional<TlsContext> tls;
  if (common.target.tls) tls.emplace(common.target);
  RetrTimes times;
  asio::co_spawn(io, retr_session(common, expected, tls ? &*tls : nullptr, repeat, times),
                 [&errors, &common](const std::exception_ptr& failure) {
                   if (!failure) return;
                   try {
                     std::rethrow_exception(failure);
                   } catch (const BenchError& e) {
                     errors.add(e.kind(), common.users.at(0), e.what());
                   } catch (const std::exception& e) {
                     errors.add(ErrorKind::io, common.users.at(0), e.what());
                   }
                 });
  io.run();
  std::vector<double> rates;
  double total_seconds = 0;
  for (const double s : times.seconds) {
    rates.push_back(static_cast<double>(expected.octets) / s / 1e6);
    total_seconds += s;
  }
  nlohmann::json out = {{"octets", expected.octets},
                        {"retrieved", times.seconds.size()},
                        {"seconds", times.seconds},
                        {"mb_per_s", median(rates)},
                        {"client_cpu", total_seconds > 0 ? times.cpu / total_seconds : 0.0}};
  if (raw_baseline) {
    std::vector<double> raw;
    try {
      for (unsigned r = 0; r < repeat; ++r) {
        raw.push_back(raw_copy_mb_per_s(expected.messages[0].stuffed, raw_sender_cpu));
      }
    } catch (const std::exception& e) {
      errors.add(ErrorKind::io, "raw baseline", e.what());
    }
    out["raw_mb_per_s"] = median(raw);
    out["raw_runs"] = raw;
  }
  return out;
}

}  // namespace postern::bench
