#include "fetch/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "auth/sasl/digest.hpp"
#include "fetch/error.hpp"
#include "fetch/url.hpp"

namespace postern::fetch {
namespace {

using Clock = std::chrono::steady_clock;

bool is_ip_literal(const std::string& host) {
  in6_addr addr{};
  return ::inet_pton(AF_INET, host.c_str(), &addr) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// The first error on OpenSSL's queue as text (and the queue emptied), or `fallback`.
std::string openssl_reason(std::string_view fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : std::string(fallback);
}

int poll_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// A non-blocking connect to one address within the deadline; -1 and errno on failure.
int connect_one(const addrinfo& ai, Clock::time_point deadline, int& err) {
  const int fd =
      ::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai.ai_protocol);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0 && errno != EINPROGRESS) {
    err = errno;
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int ready = 0;
  while ((ready = ::poll(&p, 1, poll_ms(deadline))) < 0 && errno == EINTR) {
  }
  socklen_t len = sizeof err;
  if (ready <= 0) {
    err = ETIMEDOUT;
  } else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
    err = errno;
  }
  if (err != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

std::string format_fingerprint(std::string_view sha256) {
  std::string out;
  for (const char c : auth::sasl::to_hex(sha256)) {
    if (!out.empty() && out.size() % 3 == 2) out.push_back(':');
    out.push_back(static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c));
  }
  return out;
}

std::unique_ptr<NetworkStream> NetworkStream::connect(const std::string& host, std::uint16_t port,
                                                      std::chrono::milliseconds timeout,
                                                      TlsOptions tls) {
  const std::string where = host_port(host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw FetchError(ErrorKind::temporary,
                     fmt::format("{}: cannot resolve the host: {}", where,
                                 rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc)));
  }
  const auto deadline = Clock::now() + timeout;
  int err = 0;
  int fd = -1;
  for (const addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = connect_one(*ai, deadline, err);
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    throw FetchError(ErrorKind::temporary,
                     fmt::format("{}: cannot connect: {}", where,
                                 err == ETIMEDOUT ? "no answer (timed out)" : std::strerror(err)));
  }
  return std::unique_ptr<NetworkStream>(new NetworkStream(fd, host, port, timeout, std::move(tls)));
}

NetworkStream::NetworkStream(int fd, std::string host, std::uint16_t port,
                             std::chrono::milliseconds timeout, TlsOptions tls)
    : fd_(fd), host_(std::move(host)), port_(port), timeout_(timeout), tls_(std::move(tls)) {}

NetworkStream::~NetworkStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  ::close(fd_);
}

std::string NetworkStream::where() const {
  return host_port(host_, port_);
}

void NetworkStream::wait(short events, std::string_view doing) const {
  const auto deadline = Clock::now() + timeout_;
  pollfd p{fd_, events, 0};
  while (true) {
    const int ready = ::poll(&p, 1, poll_ms(deadline));
    if (ready > 0) return;
    if (ready == 0) {
      throw FetchError(
          ErrorKind::temporary,
          fmt::format("{}: timed out {} ({} s without progress)", where(), doing,
                      std::chrono::duration_cast<std::chrono::seconds>(timeout_).count()));
    }
    if (errno != EINTR) {
      throw FetchError(ErrorKind::temporary,
                       fmt::format("{}: poll: {}", where(), std::strerror(errno)));
    }
  }
}

std::size_t NetworkStream::read_some(std::span<char> buffer) {
  while (true) {
    if (ssl_ != nullptr) {
      const int n = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
      if (n > 0) return static_cast<std::size_t>(n);
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_WANT_READ) {
        wait(POLLIN, "waiting for the server");
      } else if (error == SSL_ERROR_WANT_WRITE) {
        wait(POLLOUT, "writing to the server");
      } else if (error == SSL_ERROR_ZERO_RETURN) {
        return 0;
      } else {
        const int saved = errno;
        const std::string reason = openssl_reason(
            error == SSL_ERROR_SYSCALL && saved != 0 ? std::strerror(saved) : "connection lost");
        throw FetchError(ErrorKind::temporary, fmt::format("{}: TLS read: {}", where(), reason));
      }
      continue;
    }
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(POLLIN, "waiting for the server");
    } else if (errno != EINTR) {
      throw FetchError(ErrorKind::temporary,
                       fmt::format("{}: read: {}", where(), std::strerror(errno)));
    }
  }
}

void NetworkStream::write_all(std::string_view data) {
  while (!data.empty()) {
    if (ssl_ != nullptr) {
      const int n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_WANT_WRITE) {
        wait(POLLOUT, "writing to the server");
      } else if (error == SSL_ERROR_WANT_READ) {
        wait(POLLIN, "waiting for the server");
      } else {
        throw FetchError(ErrorKind::temporary, fmt::format("{}: TLS write: {}", where(),
                                                           openssl_reason("connection lost")));
      }
      continue;
    }
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(POLLOUT, "writing to the server");
    } else if (errno != EINTR) {
      throw FetchError(ErrorKind::temporary,
                       fmt::format("{}: write: {}", where(), std::strerror(errno)));
    }
  }
}

void NetworkStream::start_tls() {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) {
    throw FetchError(ErrorKind::failure, "cannot create a TLS context: " + openssl_reason("?"));
  }
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  // The POP3 layer frames every reply, so a close without close_notify is just a closed
  // connection, which that layer notices mid-reply.
  SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  const bool check_chain = !tls_.insecure && !tls_.fingerprint;
  if (check_chain) {
    if (!tls_.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx_, tls_.ca_file.c_str(), nullptr) != 1) {
        throw FetchError(ErrorKind::config,
                         fmt::format("tls_ca_file {}: cannot load: {}", tls_.ca_file.string(),
                                     openssl_reason("no certificates found")));
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
      throw FetchError(ErrorKind::config,
                       "cannot load the system's CA certificates: " + openssl_reason("?"));
    }
  }
  SSL_CTX_set_verify(ctx_, check_chain ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    throw FetchError(ErrorKind::failure, "cannot set up TLS: " + openssl_reason("?"));
  }
  const bool ip = is_ip_literal(host_);
  // SNI carries names only (RFC 6066); an IP literal is checked against the IP SAN instead.
  // (SSL_set_tlsext_host_name is a macro with an old-style cast: this is what it expands to.)
  if (!ip) {
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(host_.c_str()));
  }
  if (check_chain) {
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host_.c_str())
                      : SSL_set1_host(ssl_, host_.c_str());
    if (ok != 1) throw FetchError(ErrorKind::failure, "cannot set the name to verify");
  }
  while (true) {
    const int rc = SSL_connect(ssl_);
    if (rc == 1) break;
    const int error = SSL_get_error(ssl_, rc);
    if (error == SSL_ERROR_WANT_READ) {
      wait(POLLIN, "in the TLS handshake");
      continue;
    }
    if (error == SSL_ERROR_WANT_WRITE) {
      wait(POLLOUT, "in the TLS handshake");
      continue;
    }
    const long verify = SSL_get_verify_result(ssl_);
    if (check_chain && verify != X509_V_OK) {
      ERR_clear_error();
      throw FetchError(ErrorKind::failure, fmt::format("{}: certificate verify failed: {}", where(),
                                                       X509_verify_cert_error_string(verify)));
    }
    const int saved = errno;
    const bool lost = error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN;
    throw FetchError(lost ? ErrorKind::temporary : ErrorKind::failure,
                     fmt::format("{}: TLS handshake failed: {}", where(),
                                 openssl_reason(lost && saved != 0 ? std::strerror(saved)
                                                                   : "connection closed")));
  }
  if (tls_.fingerprint) {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const bool digested = cert != nullptr && X509_digest(cert, EVP_sha256(), md, &len) == 1;
    X509_free(cert);
    const std::string got(reinterpret_cast<const char*>(md), digested ? len : 0);
    if (!digested || got != *tls_.fingerprint) {
      throw FetchError(ErrorKind::failure,
                       fmt::format("{}: certificate fingerprint mismatch: the server shows "
                                   "SHA256 {}, the account pins {}",
                                   where(), digested ? format_fingerprint(got) : "nothing",
                                   format_fingerprint(*tls_.fingerprint)));
    }
  }
}

std::optional<std::string> NetworkStream::tls_exporter() const {
  if (ssl_ == nullptr || SSL_version(ssl_) < TLS1_3_VERSION) return std::nullopt;
  std::string value(32, '\0');
  constexpr std::string_view label = "EXPORTER-Channel-Binding";
  if (SSL_export_keying_material(ssl_, reinterpret_cast<unsigned char*>(value.data()), value.size(),
                                 label.data(), label.size(), nullptr, 0, 0) != 1) {
    return std::nullopt;
  }
  return value;
}

std::string NetworkStream::tls_version() const {
  return ssl_ != nullptr ? SSL_get_version(ssl_) : "no";
}

}  // namespace postern::fetch
