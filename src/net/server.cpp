#include "net/server.hpp"

#include <fmt/format.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <thread>

#include "net/blocking_pool.hpp"
#include "net/lmtp_connection.hpp"
#include "net/pop3_connection.hpp"
#include "net/privileges.hpp"

namespace postern::net {
namespace {

using asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

unsigned loop_thread_count(unsigned configured) {
  if (configured > 0) return configured;
  return std::max(1u, std::thread::hardware_concurrency());
}

// Many connections need many descriptors: take the hard limit the administrator allows.
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// RETR buffers (64-256 KiB) are allocated and freed per message. With glibc's defaults the larger
// ones are mmap()ed and the heap top is trimmed after each, so every RETR paid fresh page faults
// (a visible share of the server's CPU in the session benchmark). Serve them from the heap and
// keep a few MiB of freed memory for reuse instead.
void tune_allocator() {
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 8 << 20);
}

std::vector<Cidr> parse_networks(const config::Config& c, const std::vector<std::string>& texts,
                                 std::string_view key) {
  std::vector<Cidr> networks;
  for (const auto& text : texts) {
    try {
      networks.push_back(Cidr::parse(text));
    } catch (const std::invalid_argument& e) {
      throw config::ConfigError(fmt::format("{}: key '{}': {}", c.source.string(), key, e.what()));
    }
  }
  return networks;
}

AccessRules access_rules(const config::Config& c) {
  return AccessRules(AccessSettings{parse_networks(c, c.access.allow, "access.allow"),
                                    parse_networks(c, c.access.deny, "access.deny")});
}

ThrottleSettings throttle_settings(const config::Config& c) {
  ThrottleSettings s;
  s.failure_delay = c.auth.failure_delay;
  s.max_delay = c.auth.max_failure_delay;
  // failure_delay = 0 switches the whole penalty off, refusal included (docs/configuration.md).
  s.refuse_after = c.auth.failure_delay.count() == 0 ? 0 : c.auth.block_after_failures;
  s.window = std::chrono::duration_cast<std::chrono::seconds>(c.auth.block_window);
  s.refuse_for = std::chrono::duration_cast<std::chrono::seconds>(c.auth.block_duration);
  return s;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// The group an LMTP unix socket gets: the configured one, else (when root is about to become
// [server] user) the server's group, so that the socket belongs to the service; else none.
std::optional<gid_t> socket_group(const config::Config& c, const config::LmtpListener& lmtp) {
  std::string name = lmtp.group;
  if (name.empty()) {
    if (c.server.user.empty() || ::geteuid() != 0) return std::nullopt;
    name = c.server.group;
    if (name.empty()) {
      const passwd* user = ::getpwnam(c.server.user.c_str());
      if (user == nullptr) {
        throw ServerError(fmt::format("cannot listen on {}: no user named {} ([server] user)",
                                      lmtp.text, c.server.user));
      }
      return user->pw_gid;
    }
  }
  const group* found = ::getgrnam(name.c_str());
  if (found == nullptr) {
    throw ServerError(fmt::format("cannot listen on {}: no group named {}", lmtp.text, name));
  }
  return found->gr_gid;
}

}  // namespace

void check_network_settings(const config::Config& config) {
  (void)PlaintextPolicy::from_config(config);
  (void)access_rules(config);
  (void)parse_networks(config, config.delivery.lmtp_clients, "delivery.lmtp_clients");
}

struct Server::Impl {
  struct Listener {
    std::unique_ptr<tcp::acceptor> acceptor;
    config::TlsMode tls;
    bool lmtp;  // an [[lmtp]] TCP listener, else POP3
  };

  struct UnixListener {  // an [[lmtp]] unix socket
    std::unique_ptr<unix_socket::acceptor> acceptor;
    std::filesystem::path path;
    dev_t device;  // the socket file made, so that shutdown removes only that one
    ino_t inode;
  };

  Impl(const config::Config& c, auth::Passdb& passdb, store::MaildropStore& store,
       TlsContexts* tls_contexts, const delivery::Deliverer* deliverer)
      : config(c),
        pool(std::max(2u, std::thread::hardware_concurrency())),
        plaintext(PlaintextPolicy::from_config(c)),
        tls(tls_contexts),
        access(access_rules(c)),
        throttle(throttle_settings(c)),
        limits(LimitSettings{c.limits.connections, c.limits.connections_per_address,
                             c.limits.sessions_per_user}),
        services{
            passdb,   store,  pool,   session_options(c), c.server.idle_timeout, plaintext, tls,
            throttle, limits, access, c.auth.mechanisms} {
    const auto loops = loop_thread_count(c.server.threads);
    for (unsigned i = 0; i < loops; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
    if (deliverer != nullptr) {
      lmtp::SessionOptions options;
      options.hostname = c.server.hostname;
      options.max_message_size = c.delivery.max_message_size;
      options.max_recipients = c.delivery.max_recipients;
      options.max_bad_commands = c.server.max_bad_commands;
      lmtp_services.emplace(
          LmtpServices{*deliverer, pool, std::move(options), c.server.idle_timeout,
                       parse_networks(c, c.delivery.lmtp_clients, "delivery.lmtp_clients"),
                       c.delivery.quota_exceeded});
    }
  }

  ~Impl() { remove_unix_sockets(); }

  static pop3::SessionOptions session_options(const config::Config& c) {
    pop3::SessionOptions options;
    options.hostname = c.server.hostname;
    options.plaintext_login_allowed = c.auth.allow_plaintext;
    options.max_bad_commands = c.server.max_bad_commands;
    options.max_auth_failures = c.server.max_auth_failures;
    options.apop_enabled = c.auth.apop;
    if (c.auth.oauth) {
      auth::sasl::OAuthConfig oauth;
      oauth.public_key_pem = c.auth.oauth->public_key_pem;
      oauth.issuer = c.auth.oauth->issuer;
      oauth.audience = c.auth.oauth->audience;
      oauth.user_claim = c.auth.oauth->user_claim;
      options.oauth = std::make_shared<const auth::sasl::OAuthConfig>(std::move(oauth));
    }
    return options;
  }

  void bind_all() {
    auto& main = *contexts.front();
    for (const auto& listen : config.listen) {
      asio::error_code ec;
      const auto address = asio::ip::make_address(listen.host, ec);
      if (ec) throw ServerError(fmt::format("cannot listen on {}: bad address", listen.text));
      tcp::endpoint endpoint(address, listen.port);
      auto acceptor = std::make_unique<tcp::acceptor>(main);
      acceptor->open(endpoint.protocol(), ec);
      if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec && endpoint.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
      if (!ec) acceptor->bind(endpoint, ec);
      if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) throw ServerError(fmt::format("cannot listen on {}: {}", listen.text, ec.message()));
      if (listen.tls != config::TlsMode::none && tls == nullptr) {
        throw ServerError(fmt::format("cannot listen on {}: TLS is not set up", listen.text));
      }
      spdlog::info("listening on {} tls={}", endpoint_text(acceptor->local_endpoint()),
                   config::tls_mode_name(listen.tls));
      acceptors.push_back(Listener{std::move(acceptor), listen.tls, false});
    }
    if (!config.lmtp.empty() && !lmtp_services) {
      throw ServerError("cannot serve LMTP: no deliverer was set up");
    }
    for (const auto& lmtp : config.lmtp) {
      if (lmtp.is_unix) {
        bind_unix(lmtp);
      } else {
        bind_lmtp_tcp(lmtp);
      }
    }
  }

  void bind_lmtp_tcp(const config::LmtpListener& lmtp) {
    asio::error_code ec;
    const auto address = asio::ip::make_address(lmtp.host, ec);
    if (ec) throw ServerError(fmt::format("cannot listen on {}: bad address", lmtp.text));
    tcp::endpoint endpoint(address, lmtp.port);
    auto acceptor = std::make_unique<tcp::acceptor>(*contexts.front());
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && endpoint.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw ServerError(fmt::format("cannot listen on {}: {}", lmtp.text, ec.message()));
    spdlog::info("listening on {} protocol=lmtp", endpoint_text(acceptor->local_endpoint()));
    acceptors.push_back(Listener{std::move(acceptor), config::TlsMode::none, true});
  }

  // A socket file left by an earlier run is replaced; anything else at the path is left alone
  // and reported. The socket is made owner-only, then given the configured mode and group.
  void bind_unix(const config::LmtpListener& lmtp) {
    const auto& path = lmtp.path;
    const auto fail = [&lmtp](std::string_view what) {
      return ServerError(fmt::format("cannot listen on {}: {}", lmtp.text, what));
    };
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw fail("the path exists and is not a socket");
      if (::unlink(path.c_str()) != 0) throw fail(std::strerror(errno));
    }
    const auto group = socket_group(config, lmtp);
    asio::error_code ec;
    auto acceptor = std::make_unique<unix_socket::acceptor>(*contexts.front());
    const unix_socket::endpoint endpoint(path.string());
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) {
      // Nobody may connect between bind() and chmod(): the kernel applies the umask at bind.
      const auto old_mask = ::umask(0177);
      acceptor->bind(endpoint, ec);
      ::umask(old_mask);
    }
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw fail(ec.message());
    unix_listeners.push_back(UnixListener{std::move(acceptor), path, 0, 0});
    if (group && ::chown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) {
      throw fail(fmt::format("chgrp: {}", std::strerror(errno)));
    }
    if (::chmod(path.c_str(), lmtp.mode) != 0) {
      throw fail(fmt::format("chmod: {}", std::strerror(errno)));
    }
    if (::lstat(path.c_str(), &st) != 0) throw fail(std::strerror(errno));
    unix_listeners.back().device = st.st_dev;
    unix_listeners.back().inode = st.st_ino;
    spdlog::info("listening on {} protocol=lmtp mode={:04o} group={}", path.string(), lmtp.mode,
                 st.st_gid);
  }

  // At shutdown: the socket files this server made, unless something else replaced them since.
  // After the privilege drop this can fail (the directory belongs to root): a stale socket is
  // replaced at the next start anyway.
  void remove_unix_sockets() {
    for (const auto& listener : unix_listeners) {
      struct stat st {};
      if (::lstat(listener.path.c_str(), &st) != 0 || st.st_dev != listener.device ||
          st.st_ino != listener.inode) {
        continue;
      }
      if (::unlink(listener.path.c_str()) != 0) {
        spdlog::warn("cannot remove {}: {}", listener.path.string(), std::strerror(errno));
      }
    }
    unix_listeners.clear();
  }

  // Starts the protocol on one accepted socket, on the loop that will own it.
  void serve(asio::io_context& loop, tcp::socket socket, const Listener& listener) {
    asio::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (listener.lmtp) {
      asio::co_spawn(loop, serve_lmtp(std::move(socket), *lmtp_services), asio::detached);
    } else {
      asio::co_spawn(loop, serve_pop3(std::move(socket), services, listener.tls), asio::detached);
    }
  }

  void serve(asio::io_context& loop, unix_socket::socket socket, const UnixListener&) {
    asio::co_spawn(loop, serve_lmtp(std::move(socket), *lmtp_services), asio::detached);
  }

  template <class Acceptor, class ListenerType>
  asio::awaitable<void> accept_loop(Acceptor& acceptor, const ListenerType& listener) {
    constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
    for (;;) {
      auto& loop = *contexts[next_loop++ % contexts.size()];
      auto [ec, socket] = co_await acceptor.async_accept(loop, as_tuple);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // EMFILE and friends: pause briefly instead of spinning on a full descriptor table.
        spdlog::error("accept failed: {}", ec.message());
        asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
        co_await pause.async_wait(as_tuple);
        continue;
      }
      serve(loop, std::move(socket), listener);
    }
  }

  void run() {
    auto& main = *contexts.front();
    // Signals first: a SIGTERM that arrives the moment "listening on" is logged must still
    // mean a clean shutdown, not death by the default action.
    asio::signal_set signals(main, SIGINT, SIGTERM);
    signals.async_wait([this](const asio::error_code& ec, int signal) {
      if (ec) return;
      spdlog::info("shutting down on signal {}", signal);
      for (auto& listener : acceptors) listener.acceptor->close();
      for (auto& listener : unix_listeners) listener.acceptor->close();
      for (auto& context : contexts) context->stop();
    });
    asio::signal_set hangup(main, SIGHUP);
    wait_for_hangup(hangup);
    bind_all();
    // Ports below 1024 are bound: root is not needed any more.
    drop_privileges(config.server.user, config.server.group);
    if (!config.server.user.empty()) {
      spdlog::info("running as user={} uid={} gid={}", config.server.user, ::getuid(), ::getgid());
    }
    for (auto& listener : acceptors) {
      asio::co_spawn(main, accept_loop(*listener.acceptor, listener), asio::detached);
    }
    for (auto& listener : unix_listeners) {
      asio::co_spawn(main, accept_loop(*listener.acceptor, listener), asio::detached);
    }
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts.size(); ++i) {
      threads.emplace_back([context = contexts[i].get()] {
        auto guard = asio::make_work_guard(*context);
        context->run();
      });
    }
    {
      auto guard = asio::make_work_guard(main);
      main.run();
    }
    for (auto& thread : threads) thread.join();
    pool.join();
  }

  // SIGHUP: new TLS contexts from the certificate files; open sessions keep theirs.
  void wait_for_hangup(asio::signal_set& hangup) {
    hangup.async_wait([this, &hangup](const asio::error_code& ec, int) {
      if (ec) return;
      reload_certificates();
      wait_for_hangup(hangup);
    });
  }

  void reload_certificates() {
    if (tls == nullptr) {
      spdlog::info("SIGHUP: no TLS certificates to reload");
      return;
    }
    try {
      tls->reload();
      spdlog::info("tls-reloaded certificate={}", config.tls.certificate.string());
    } catch (const std::exception& e) {
      spdlog::error("tls-reload-failed reason={}; keeping the previous certificates", e.what());
    }
  }

  const config::Config& config;
  BlockingPool pool;
  PlaintextPolicy plaintext;
  TlsContexts* tls;
  AccessRules access;
  LoginThrottle throttle;
  ConnectionLimits limits;
  Pop3Services services;
  std::optional<LmtpServices> lmtp_services;  // when a deliverer was given
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<Listener> acceptors;
  std::vector<UnixListener> unix_listeners;
  std::size_t next_loop = 0;
};

Server::Server(const config::Config& config, auth::Passdb& passdb, store::MaildropStore& store,
               TlsContexts* tls, const delivery::Deliverer* deliverer)
    : impl_(std::make_unique<Impl>(config, passdb, store, tls, deliverer)) {
  raise_descriptor_limit();
  tune_allocator();
  // A peer that closes while we write must cost an error on that connection, not the process:
  // OpenSSL writes TLS records with write(2), which raises SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
}

Server::~Server() = default;

void Server::run() {
  impl_->run();
}

}  // namespace postern::net
