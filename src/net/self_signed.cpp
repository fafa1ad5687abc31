#include "net/self_signed.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace postern::net {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

void check(bool ok, std::string_view step) {
  if (!ok) throw std::runtime_error(fmt::format("self-signed certificate: {} failed", step));
}

void add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
  const Extension extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
  check(extension != nullptr && X509_add_ext(cert, extension.get(), -1) == 1, value);
}

Cert make_certificate(EVP_PKEY* key, const std::string& host_name) {
  Cert cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial) == 1, "RAND_bytes");
  serial[0] &= 0x7f;  // a positive serial number
  const std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>> number(
      BN_bin2bn(serial, sizeof serial, nullptr));
  check(number && BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert.get())),
        "serial number");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600) != nullptr, "notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(host_name.c_str());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, -1, -1, 0) == 1, "subject");
  check(X509_set_issuer_name(cert.get(), name) == 1, "issuer");
  check(X509_set_pubkey(cert.get(), key) == 1, "public key");
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), NID_subject_alt_name, fmt::format("DNS:{},IP:127.0.0.1", host_name));
  check(X509_sign(cert.get(), key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

// fopen() for a new file with the given mode; O_EXCL, so nothing existing is overwritten.
std::unique_ptr<FILE, int (*)(FILE*)> create(const std::filesystem::path& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
  FILE* file = ::fdopen(fd, "w");
  if (file == nullptr) {
    ::close(fd);
    throw std::runtime_error(fmt::format("cannot write {}", path.string()));
  }
  return {file, std::fclose};
}

}  // namespace

void write_self_signed_certificate(const std::filesystem::path& certificate,
                                   const std::filesystem::path& private_key,
                                   const std::string& host_name) {
  // EVP_EC_gen() is a macro with a C-style cast: this is what it expands to.
  const Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", const_cast<char*>("P-256")));
  check(key != nullptr, "EVP_EC_gen(P-256)");
  const auto cert = make_certificate(key.get(), host_name);
  {
    auto file = create(private_key, 0600);
    check(PEM_write_PrivateKey(file.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "writing the private key");
    check(std::fflush(file.get()) == 0, "writing the private key");
  }
  auto file = create(certificate, 0644);
  check(PEM_write_X509(file.get(), cert.get()) == 1, "writing the certificate");
  check(std::fflush(file.get()) == 0, "writing the certificate");
}

}  // namespace postern::net
