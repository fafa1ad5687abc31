// `postern serve` and `postern check-config`: load the settings, check what they point at, run.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "auth/credential_cache.hpp"
#include "auth/passwd_file.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "delivery/deliverer.hpp"
#include "net/plaintext_policy.hpp"
#include "net/server.hpp"
#include "net/tls_context.hpp"
#include "store/maildir.hpp"

namespace postern::cli {

void setup_logging() {
  auto logger = spdlog::stderr_logger_mt("postern");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

namespace {

// Everything the server needs, loaded and checked; throws with a message naming the culprit.
struct LoadedServer {
  config::Config config;
  auth::PasswdFile passdb;
  auth::CachingPassdb cached_passdb;  // what the server authenticates against
  store::MaildirStore store;
  std::unique_ptr<net::TlsContexts> tls;  // certificates read and checked against their keys
  delivery::Deliverer deliverer;          // for the [[lmtp]] listeners: looks users up uncached

  explicit LoadedServer(const std::filesystem::path& file)
      : config(config::load_config(file)),
        passdb(config.auth.passwd_file),
        cached_passdb(passdb, config.auth.cache_ttl, config.auth.cache_size),
        store(config.mail.maildir),
        deliverer(passdb, store, config.delivery) {
    net::check_network_settings(config);  // CIDR lists must parse
    passdb.load();
    tls = net::make_tls_contexts(config);
  }
};

}  // namespace

int run_check_config(const std::filesystem::path& config_file) {
  try {
    LoadedServer loaded(config_file);
    std::cout << config::render_config(loaded.config);
    std::cout << fmt::format("# {} users in {}\n", loaded.passdb.user_count(),
                             loaded.config.auth.passwd_file.string());
    return exit_ok;
  } catch (const std::exception& e) {
    std::cerr << "postern: " << e.what() << "\n";
    return exit_config;
  }
}

int run_serve(const std::filesystem::path& config_file) {
  std::unique_ptr<LoadedServer> loaded;
  try {
    loaded = std::make_unique<LoadedServer>(config_file);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return exit_config;
  }
  try {
    spdlog::info("postern {} starting, hostname={}", POSTERN_VERSION,
                 loaded->config.server.hostname);
    net::Server server(loaded->config, loaded->cached_passdb, loaded->store, loaded->tls.get(),
                       &loaded->deliverer);
    server.run();
    spdlog::info("stopped");
    return exit_ok;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return exit_unavailable;
  }
}

}  // namespace postern::cli
