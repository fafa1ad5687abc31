// The network side of postern fetch: a TCP connection with timeouts (getaddrinfo, non-blocking
// connect, poll) and TLS over OpenSSL, verified the way a careful client must: the system CA
// store (or tls_ca_file), the host name or IP address, TLS 1.2 at least, SNI; or a pinned
// SHA-256 fingerprint of the server's certificate instead; or nothing with insecure, only when
// asked. A failed check names host, port and OpenSSL's reason.
#pragma once

#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "fetch/stream.hpp"

namespace postern::fetch {

struct TlsOptions {
  bool insecure = false;                   // no verification at all
  std::filesystem::path ca_file;           // empty: the system store
  std::optional<std::string> fingerprint;  // 32 bytes: replaces CA and name checks when set
};

class NetworkStream final : public Stream {
 public:
  // Connects (trying each address getaddrinfo returns). Throws FetchError (temporary) when the
  // host cannot be resolved or reached within the timeout.
  static std::unique_ptr<NetworkStream> connect(const std::string& host, std::uint16_t port,
                                                std::chrono::milliseconds timeout, TlsOptions tls);
  ~NetworkStream() override;
  NetworkStream(const NetworkStream&) = delete;
  NetworkStream& operator=(const NetworkStream&) = delete;

  std::size_t read_some(std::span<char> buffer) override;
  void write_all(std::string_view data) override;
  // Throws FetchError: failure for a certificate that does not verify or a pin that does not
  // match, config for an unreadable tls_ca_file, temporary when the connection breaks.
  void start_tls() override;
  bool tls_active() const override { return ssl_ != nullptr; }
  std::optional<std::string> tls_exporter() const override;
  std::string tls_version() const override;

 private:
  NetworkStream(int fd, std::string host, std::uint16_t port, std::chrono::milliseconds timeout,
                TlsOptions tls);
  // Waits until fd is readable (events POLLIN) or writable (POLLOUT); throws on timeout.
  void wait(short events, std::string_view doing) const;
  std::string where() const;

  int fd_;
  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  TlsOptions tls_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// The SHA-256 of a DER certificate as "AB:CD:..." (what openssl x509 -fingerprint prints).
std::string format_fingerprint(std::string_view sha256);

}  // namespace postern::fetch
