// The byte stream the POP3 client talks over: a TCP or TLS connection (connection.hpp), or in
// tests a scripted fake server. Blocking calls, each bounded by the connection's timeout.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace postern::fetch {

class Stream {
 public:
  virtual ~Stream() = default;
  // Whatever is available, at least one byte; 0 means the server closed the connection.
  // Throws FetchError (temporary) on a timeout or a network error.
  virtual std::size_t read_some(std::span<char> buffer) = 0;
  virtual void write_all(std::string_view data) = 0;
  // STLS: the handshake over the open connection, with the account's verification rules.
  virtual void start_tls() = 0;
  virtual bool tls_active() const = 0;
  // The RFC 9266 tls-exporter value (TLS 1.3 only), for SCRAM-SHA-256-PLUS.
  virtual std::optional<std::string> tls_exporter() const = 0;
  // "TLSv1.3", or "no" before TLS.
  virtual std::string tls_version() const = 0;
};

}  // namespace postern::fetch
