#include "net/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <thread>

#include "net/blocking_pool.hpp"
#include "net/pop3_connection.hpp"
#include "net/privileges.hpp"

namespace postern::net {
namespace {

using asio::ip::tcp;

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

}  // namespace

void check_network_settings(const config::Config& config) {
  (void)PlaintextPolicy::from_config(config);
  (void)access_rules(config);
}

struct Server::Impl {
  Impl(const config::Config& c, auth::Passdb& passdb, store::MaildropStore& store,
       TlsContexts* tls_contexts)
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
  }

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
      const auto local = acceptor->local_endpoint();
      spdlog::info("listening on {} tls={}",
                   local.address().is_v6()
                       ? fmt::format("[{}]:{}", local.address().to_string(), local.port())
                       : fmt::format("{}:{}", local.address().to_string(), local.port()),
                   config::tls_mode_name(listen.tls));
      acceptors.push_back(Listener{std::move(acceptor), listen.tls});
    }
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, config::TlsMode mode) {
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
      asio::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      asio::co_spawn(loop, serve_pop3(std::move(socket), services, mode), asio::detached);
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
      asio::co_spawn(main, accept_loop(*listener.acceptor, listener.tls), asio::detached);
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

  struct Listener {
    std::unique_ptr<tcp::acceptor> acceptor;
    config::TlsMode tls;
  };

  const config::Config& config;
  BlockingPool pool;
  PlaintextPolicy plaintext;
  TlsContexts* tls;
  AccessRules access;
  LoginThrottle throttle;
  ConnectionLimits limits;
  Pop3Services services;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<Listener> acceptors;
  std::size_t next_loop = 0;
};

Server::Server(const config::Config& config, auth::Passdb& passdb, store::MaildropStore& store,
               TlsContexts* tls)
    : impl_(std::make_unique<Impl>(config, passdb, store, tls)) {
  raise_descriptor_limit();
}

Server::~Server() = default;

void Server::run() {
  impl_->run();
}

}  // namespace postern::net
