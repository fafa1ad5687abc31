#include "net/tls_context.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

namespace postern::net {
namespace {

constexpr unsigned char alpn_pop3[] = {4, 'p', 'o', 'p', '3'};  // ALPN wire form
constexpr unsigned char session_id_context[] = {'p', 'o', 's', 't', 'e', 'r', 'n'};

// The oldest queued OpenSSL error as text, and the queue emptied.
std::string openssl_error() {
  const auto code = ERR_peek_last_error();
  std::string text = "unknown OpenSSL error";
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    text = reason ? reason : fmt::format("OpenSSL error {:#x}", code);
  }
  ERR_clear_error();
  return text;
}

class Failure {
 public:
  explicit Failure(const std::filesystem::path& source) : source_(source) {}
  [[noreturn]] void operator()(std::string_view key, std::string_view problem) const {
    throw config::ConfigError(fmt::format("{}: key '{}': {}", source_.string(), key, problem));
  }

 private:
  const std::filesystem::path& source_;
};

// Says why a file cannot be opened before OpenSSL gives its vaguer "no such file" or "system lib".
void check_readable(const Failure& fail, std::string_view key, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(key, fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
}

// An encrypted key must fail with a clear error, never prompt on the terminal for a passphrase.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

// ALPN (RFC 7301): select "pop3" when the client offers it; a client offering only other
// protocols, or none, still gets its handshake.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                unsigned int in_length, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, alpn_pop3, sizeof alpn_pop3, in, in_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

void configure(asio::ssl::context& context, const config::TlsSettings& settings,
               const Failure& fail) {
  SSL_CTX* ctx = context.native_handle();
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  const int min_version =
      settings.min_version == config::TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  SSL_CTX_set_min_proto_version(ctx, min_version);
  if (!settings.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1) {
    fail("tls.ciphers",
         fmt::format("\"{}\" selects no cipher ({})", settings.ciphers, openssl_error()));
  }
  if (!settings.ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, settings.ciphersuites.c_str()) != 1) {
    fail("tls.ciphersuites", fmt::format("\"{}\" is not a TLS 1.3 cipher suite list ({})",
                                         settings.ciphersuites, openssl_error()));
  }
  if (!settings.groups.empty() && SSL_CTX_ctrl(ctx, SSL_CTRL_SET_GROUPS_LIST, 0,
                                               const_cast<char*>(settings.groups.c_str())) != 1) {
    fail("tls.groups", fmt::format("\"{}\" is not a list of groups OpenSSL knows ({})",
                                   settings.groups, openssl_error()));
  }
  // Session tickets are on (OpenSSL's default); the context id lets resumption work at all.
  SSL_CTX_set_session_id_context(ctx, session_id_context, sizeof session_id_context);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
}

EVP_PKEY* read_private_key(const std::filesystem::path& path) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> file(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!file) return nullptr;
  return PEM_read_bio_PrivateKey(file.get(), nullptr, no_passphrase, nullptr);
}

void load_pair(asio::ssl::context& context, const std::filesystem::path& certificate,
               const std::filesystem::path& private_key, std::string_view section,
               const Failure& fail) {
  SSL_CTX* ctx = context.native_handle();
  const auto cert_key = fmt::format("{}.certificate", section);
  const auto key_key = fmt::format("{}.private_key", section);
  check_readable(fail, cert_key, certificate);
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate.c_str()) != 1) {
    fail(cert_key, fmt::format("{} is not a PEM certificate chain ({})", certificate.string(),
                               openssl_error()));
  }
  check_readable(fail, key_key, private_key);
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(read_private_key(private_key),
                                                                EVP_PKEY_free);
  if (!key) {
    fail(key_key, fmt::format("{} is not an unencrypted PEM private key ({})", private_key.string(),
                              openssl_error()));
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    fail(key_key, fmt::format("{} does not match the certificate {}", private_key.string(),
                              certificate.string()));
  }
}

}  // namespace

TlsGeneration::TlsGeneration(const config::TlsSettings& settings,
                             const std::filesystem::path& source)
    : default_(asio::ssl::context::tls_server) {
  const Failure fail(source);
  ERR_clear_error();
  configure(default_, settings, fail);
  load_pair(default_, settings.certificate, settings.private_key, "tls", fail);
  for (const auto& sni : settings.sni) {
    auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    configure(*context, settings, fail);
    load_pair(*context, sni.certificate, sni.private_key, "tls.sni", fail);
    by_name_.emplace_back(sni.server_name, std::move(context));
  }
  if (!by_name_.empty()) {
    // The OpenSSL macros for these two cast C-style; these are the calls they stand for.
    SSL_CTX_callback_ctrl(default_.native_handle(), SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                          reinterpret_cast<void (*)()>(select_by_server_name));
    SSL_CTX_ctrl(default_.native_handle(), SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, this);
  }
}

// SNI (RFC 6066): switch to the [[tls.sni]] certificate named by the client; any other name,
// or none, keeps the default certificate.
int TlsGeneration::select_by_server_name(SSL* ssl, int*, void* self) {
  const char* requested = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (requested == nullptr) return SSL_TLSEXT_ERR_OK;
  std::string name(requested);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto& generation = *static_cast<TlsGeneration*>(self);
  for (auto& [server_name, context] : generation.by_name_) {
    if (server_name == name) {
      SSL_set_SSL_CTX(ssl, context->native_handle());
      break;
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

TlsContexts::TlsContexts(config::Config config)
    : config_(std::move(config)),
      current_(std::make_shared<TlsGeneration>(config_.tls, config_.source)) {}

std::shared_ptr<TlsGeneration> TlsContexts::current() const {
  const std::lock_guard lock(mutex_);
  return current_;
}

void TlsContexts::reload() {
  auto fresh = std::make_shared<TlsGeneration>(config_.tls, config_.source);
  const std::lock_guard lock(mutex_);
  current_ = std::move(fresh);
}

std::unique_ptr<TlsContexts> make_tls_contexts(const config::Config& config) {
  const bool needed = std::any_of(config.listen.begin(), config.listen.end(),
                                  [](const auto& l) { return l.tls != config::TlsMode::none; });
  if (!needed && config.tls.certificate.empty()) return nullptr;
  return std::make_unique<TlsContexts>(config);
}

}  // namespace postern::net
