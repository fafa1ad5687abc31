#include "net/lmtp_connection.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <unordered_map>

#include "net/log_format.hpp"

namespace postern::net {
namespace {

using asio::awaitable;
using Clock = std::chrono::steady_clock;
using delivery::DeliveryStatus;
constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
// Messages come in megabytes: bigger reads than POP3's commands need.
constexpr std::size_t read_chunk = 64 * 1024;

// The idle timer's deadline: every byte that moves pushes it forward.
struct Deadline {
  std::chrono::milliseconds idle;
  Clock::time_point at;
  bool writing = false;  // a write is pending: the reply is not out yet
  // A lookup or a delivery runs on the pool. A connection is never timed out in the middle of
  // one: a delivery that completed would then never be confirmed, and the MTA would send the
  // message again.
  bool busy = false;
  void touch() { at = Clock::now() + idle; }
};

// Fires when neither side moved a byte for a whole idle period while nothing was in progress.
awaitable<void> watchdog(Deadline& deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    while (Clock::now() < deadline.at) {
      timer.expires_at(deadline.at);
      const auto [ec] = co_await timer.async_wait(as_tuple);
      if (ec == asio::error::operation_aborted) co_return;  // the session ended first
    }
    if (!deadline.busy) co_return;
    deadline.touch();
  }
}

// Short words for the log's status field.
std::string_view status_name(DeliveryStatus status, bool defer) {
  switch (status) {
    case DeliveryStatus::delivered: return "delivered";
    case DeliveryStatus::unknown_user: return "unknown-user";
    case DeliveryStatus::over_quota: return defer ? "over-quota-deferred" : "over-quota";
    case DeliveryStatus::too_large: return "too-large";
    case DeliveryStatus::temporary_failure: return "temporary-failure";
    case DeliveryStatus::cannot_create: return "mailbox-unavailable";
    case DeliveryStatus::io_error: return "io-error";
  }
  return "unknown";
}

lmtp::DeliveryOutcome outcome_for(DeliveryStatus status, bool defer) {
  switch (status) {
    case DeliveryStatus::delivered: return lmtp::DeliveryOutcome::delivered;
    case DeliveryStatus::unknown_user: return lmtp::DeliveryOutcome::unknown_user;
    case DeliveryStatus::over_quota:
      return defer ? lmtp::DeliveryOutcome::over_quota_defer : lmtp::DeliveryOutcome::over_quota;
    case DeliveryStatus::too_large: return lmtp::DeliveryOutcome::too_large;
    case DeliveryStatus::temporary_failure: return lmtp::DeliveryOutcome::temporary_failure;
    case DeliveryStatus::cannot_create: return lmtp::DeliveryOutcome::mailbox_unavailable;
    case DeliveryStatus::io_error: return lmtp::DeliveryOutcome::failed;
  }
  return lmtp::DeliveryOutcome::temporary_failure;
}

// The null sender is logged the way it is written on the wire.
std::string log_sender(std::string_view sender) {
  return sender.empty() ? std::string("<>") : log_value(sender);
}

// What the pool reports back for one recipient of a message.
struct Attempt {
  DeliveryStatus status = DeliveryStatus::temporary_failure;
  bool defer = false;
  std::string user;  // the passwd-file user, when the address resolved to one
  std::string detail;
  std::string unique_name;
};

// Runs on the pool: the recipient is looked up again (the passdb may have changed since RCPT),
// then the message goes in. Never throws.
Attempt deliver_one(const delivery::Deliverer& deliverer, const std::string& address,
                    const lmtp::action::Deliver& request) {
  Attempt attempt;
  try {
    auto lookup = deliverer.lookup(address);
    if (!lookup.recipient) {
      attempt.status =
          lookup.status == DeliveryStatus::delivered ? DeliveryStatus::unknown_user : lookup.status;
      attempt.detail = std::move(lookup.detail);
      return attempt;
    }
    attempt.user = lookup.recipient->user;
    const delivery::Envelope envelope{
        .sender = request.sender, .has_sender = true, .add_delivered_to = true};
    auto result = deliverer.deliver(*lookup.recipient, envelope, request.message);
    attempt.status = result.status;
    attempt.defer = result.defer;
    attempt.detail = std::move(result.detail);
    attempt.unique_name = std::move(result.unique_name);
  } catch (const std::exception& e) {
    attempt.status = DeliveryStatus::temporary_failure;
    attempt.detail = e.what();
  }
  return attempt;
}

// RCPT TO: the lookup and the quota check with the size MAIL FROM declared.
struct RecipientCheck {
  DeliveryStatus status = DeliveryStatus::temporary_failure;
  bool over_quota = false;
  std::string detail;
};

RecipientCheck check_one(const delivery::Deliverer& deliverer,
                         const lmtp::action::CheckRecipient& request) {
  RecipientCheck check;
  try {
    auto lookup = deliverer.lookup(request.address);
    check.status = lookup.status;
    check.detail = std::move(lookup.detail);
    if (lookup.recipient) {
      check.over_quota = deliverer.over_quota(*lookup.recipient, request.size);
    } else if (check.status == DeliveryStatus::delivered) {
      check.status = DeliveryStatus::unknown_user;
    }
  } catch (const std::exception& e) {
    check.status = DeliveryStatus::temporary_failure;
    check.detail = e.what();
  }
  return check;
}

template <class Socket>
class LmtpConnection {
 public:
  LmtpConnection(Socket socket, const LmtpServices& services, std::string remote)
      : socket_(std::move(socket)),
        services_(services),
        session_(services.session_options),
        deadline_{services.idle_timeout, Clock::now() + services.idle_timeout},
        remote_(std::move(remote)),
        buffer_(read_chunk) {}

  awaitable<void> run() {
    using namespace asio::experimental::awaitable_operators;
    const auto result = co_await (drive() || watchdog(deadline_));
    if (result.index() == 1) {
      session_.set_close_reason("idle timeout");
      if (!deadline_.writing) {  // mid-write the client is not reading anyway
        write_now(fmt::format("421 4.4.2 {} Idle timeout, closing connection\r\n",
                              services_.session_options.hostname));
      }
    }
    log_end();
    asio::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  awaitable<void> drive() {
    session_.start();
    for (;;) {
      auto action = session_.next();
      if (std::holds_alternative<lmtp::action::Close>(action)) {
        co_await flush();
        co_return;
      }
      if (std::holds_alternative<lmtp::action::NeedInput>(action)) {
        // Replies to pipelined commands go out together, once the client's batch is used up.
        if (!co_await flush()) co_return;
        if (!co_await read_more()) co_return;
      } else if (std::holds_alternative<lmtp::action::Flush>(action)) {
        if (!co_await flush()) co_return;
      } else if (auto* check = std::get_if<lmtp::action::CheckRecipient>(&action)) {
        co_await check_recipient(*check);
      } else if (auto* deliver = std::get_if<lmtp::action::Deliver>(&action)) {
        co_await deliver_message(*deliver);
      }
    }
  }

  // Best effort, without waiting on a peer that does not read: a refusal or a timeout notice.
  void write_now(std::string_view text) {
    asio::error_code ec;
    socket_.non_blocking(true, ec);
    socket_.write_some(asio::buffer(text), ec);
  }

  awaitable<bool> flush() {
    auto& out = session_.output();
    std::string_view bytes = out;
    bool ok = true;
    while (!bytes.empty()) {
      deadline_.writing = true;
      const auto [ec, n] = co_await socket_.async_write_some(asio::buffer(bytes), as_tuple);
      deadline_.writing = false;
      if (ec) {
        session_.set_close_reason("disconnected");
        ok = false;
        break;
      }
      deadline_.touch();
      bytes.remove_prefix(n);
    }
    out.clear();
    co_return ok;
  }

  awaitable<bool> read_more() {
    const auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer_), as_tuple);
    if (ec) {
      session_.set_close_reason(session_.reading_message() ? "disconnected during DATA"
                                                           : "disconnected");
      co_return false;
    }
    deadline_.touch();
    session_.receive(std::string_view(buffer_.data(), n));
    co_return true;
  }

  awaitable<void> check_recipient(const lmtp::action::CheckRecipient& request) {
    const auto& deliverer = services_.deliverer;
    auto check = [&deliverer, &request] { return check_one(deliverer, request); };
    deadline_.busy = true;
    const auto result = co_await services_.pool.run(check);
    deadline_.busy = false;
    deadline_.touch();
    auto status = lmtp::RecipientStatus::accepted;
    std::string_view name = "accepted";
    const bool defer = services_.quota_exceeded == config::QuotaExceeded::defer;
    if (result.status == DeliveryStatus::unknown_user) {
      status = lmtp::RecipientStatus::unknown_user;
      name = status_name(result.status, false);
    } else if (result.status != DeliveryStatus::delivered) {
      status = lmtp::RecipientStatus::temporary_failure;
      name = status_name(DeliveryStatus::temporary_failure, false);
    } else if (result.over_quota) {
      status = defer ? lmtp::RecipientStatus::over_quota_defer : lmtp::RecipientStatus::over_quota;
      name = status_name(DeliveryStatus::over_quota, defer);
    }
    if (status != lmtp::RecipientStatus::accepted) {
      const bool trouble = status == lmtp::RecipientStatus::temporary_failure;
      spdlog::log(trouble ? spdlog::level::warn : spdlog::level::info,
                  "lmtp-recipient-refused recipient={} remote={} status={} reason={}",
                  log_value(request.address), remote_, name,
                  log_value(result.detail.empty() ? name : result.detail));
    }
    session_.on_recipient(status);
  }

  awaitable<void> deliver_message(const lmtp::action::Deliver& request) {
    const auto& deliverer = services_.deliverer;
    std::vector<lmtp::DeliveryOutcome> outcomes;
    outcomes.reserve(request.recipients.size());
    // The same address twice in one transaction gets one copy, and the same answer twice.
    std::unordered_map<std::string_view, std::size_t> first;
    for (std::size_t i = 0; i < request.recipients.size(); ++i) {
      const auto& address = request.recipients[i];
      if (const auto earlier = first.find(address); earlier != first.end()) {
        outcomes.push_back(outcomes[earlier->second]);
        continue;
      }
      first.emplace(address, i);
      auto one = [&deliverer, &address, &request] {
        return deliver_one(deliverer, address, request);
      };
      deadline_.busy = true;
      const auto attempt = co_await services_.pool.run(one);
      deadline_.busy = false;
      deadline_.touch();
      log_attempt(request, address, attempt);
      if (attempt.status == DeliveryStatus::delivered) ++delivered_;
      outcomes.push_back(outcome_for(attempt.status, attempt.defer));
    }
    session_.on_delivered(outcomes);
  }

  void log_attempt(const lmtp::action::Deliver& request, const std::string& address,
                   const Attempt& attempt) {
    if (attempt.status == DeliveryStatus::delivered) {
      spdlog::info("lmtp-delivered user={} recipient={} sender={} remote={} size={} name={}",
                   log_value(attempt.user), log_value(address), log_sender(request.sender), remote_,
                   request.octets, log_value(attempt.unique_name));
      return;
    }
    // Refusals are the sender's business; a failure to store is the administrator's.
    const bool trouble = attempt.status == DeliveryStatus::temporary_failure ||
                         attempt.status == DeliveryStatus::cannot_create ||
                         attempt.status == DeliveryStatus::io_error;
    spdlog::log(trouble ? spdlog::level::err : spdlog::level::info,
                "lmtp-delivery-failed user={} recipient={} sender={} remote={} size={} "
                "status={} reason={}",
                log_value(attempt.user), log_value(address), log_sender(request.sender), remote_,
                request.octets, status_name(attempt.status, attempt.defer),
                log_value(attempt.detail));
  }

  void log_end() {
    const auto& reason = session_.close_reason();
    spdlog::info("lmtp-end remote={} client={} reason={} delivered={}", remote_,
                 log_value(session_.client_name()),
                 log_value(reason.empty() ? "disconnected" : reason), delivered_);
  }

  Socket socket_;
  const LmtpServices& services_;
  lmtp::Session session_;
  Deadline deadline_;
  std::string remote_;
  std::vector<char> buffer_;
  std::uint64_t delivered_ = 0;  // recipients whose copy is durable
};

}  // namespace

awaitable<void> serve_lmtp(asio::ip::tcp::socket socket, const LmtpServices& services) {
  asio::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  std::string remote = "unknown";
  std::optional<IpAddress> peer;
  if (!ec) {
    const auto address = endpoint.address();
    remote = address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                             : fmt::format("{}:{}", address.to_string(), endpoint.port());
    peer = parse_ip(address.to_string());
  }
  if (!peer || !any_contains(services.clients, *peer)) {
    spdlog::warn("connection-refused remote={} reason={}", remote, log_value("lmtp_clients"));
    const auto refusal = fmt::format("421 4.7.0 {} Not authorised to use this LMTP service\r\n",
                                     services.session_options.hostname);
    socket.non_blocking(true, ec);
    socket.write_some(asio::buffer(refusal), ec);
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket.close(ec);
    co_return;
  }
  LmtpConnection<asio::ip::tcp::socket> connection(std::move(socket), services, std::move(remote));
  co_await connection.run();
}

awaitable<void> serve_lmtp(asio::local::stream_protocol::socket socket,
                           const LmtpServices& services) {
  LmtpConnection<asio::local::stream_protocol::socket> connection(std::move(socket), services,
                                                                  "unix");
  co_await connection.run();
}

}  // namespace postern::net
