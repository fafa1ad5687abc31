// TLS server contexts: the OpenSSL settings and certificates of [tls], built once at start and
// again on SIGHUP. Connections hold the generation they started with, so a reload never
// disturbs an open session.
#pragma once

#include <asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace postern::net {

// One set of contexts built from the files as they were at one moment: the default certificate
// and any [[tls.sni]] ones, chosen by the name the client asks for.
class TlsGeneration {
 public:
  // Reads every certificate and key. Throws config::ConfigError naming the key and the file.
  TlsGeneration(const config::TlsSettings& settings, const std::filesystem::path& source);
  TlsGeneration(const TlsGeneration&) = delete;
  TlsGeneration& operator=(const TlsGeneration&) = delete;

  // The context a handshake starts with; the SNI callback may switch to another one.
  asio::ssl::context& context() { return default_; }

 private:
  static int select_by_server_name(SSL* ssl, int* alert, void* self);

  asio::ssl::context default_;
  std::vector<std::pair<std::string, std::unique_ptr<asio::ssl::context>>> by_name_;
};

class TlsContexts {
 public:
  // Builds the first generation; throws config::ConfigError (startup fails with exit 78).
  explicit TlsContexts(config::Config config);

  std::shared_ptr<TlsGeneration> current() const;
  // Re-reads the certificate files into a new generation; on failure throws and keeps the
  // current one.
  void reload();

 private:
  const config::Config config_;
  mutable std::mutex mutex_;
  std::shared_ptr<TlsGeneration> current_;
};

// Creates the TLS contexts when a listener needs them, else returns nullptr.
std::unique_ptr<TlsContexts> make_tls_contexts(const config::Config& config);

}  // namespace postern::net
