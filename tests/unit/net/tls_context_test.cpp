// TLS contexts from [tls]: a good certificate loads; every broken one stops the start with an
// error naming the key and the file; a failed reload keeps the previous certificates.
#include "net/tls_context.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "net/self_signed.hpp"

namespace postern::net {
namespace {

namespace fs = std::filesystem;

class TlsContextTest : public testing::Test {
 protected:
  TlsContextTest() {
    std::string pattern = (fs::temp_directory_path() / "postern-tls-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    write_self_signed_certificate(dir_ / "cert.pem", dir_ / "key.pem");
    write_self_signed_certificate(dir_ / "other.pem", dir_ / "other.key");
    config_.source = "/etc/postern/test.toml";
    config_.tls.certificate = dir_ / "cert.pem";
    config_.tls.private_key = dir_ / "key.pem";
  }
  ~TlsContextTest() override { fs::remove_all(dir_); }

  // The ConfigError message of building the contexts, or "" when they build.
  std::string error() {
    try {
      TlsContexts contexts(config_);
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return {};
  }

  void write(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
  }

  fs::path dir_;
  config::Config config_;
};

TEST_F(TlsContextTest, GoodCertificateLoads) {
  EXPECT_EQ(error(), "");
}

TEST_F(TlsContextTest, SelfSignedKeyIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(TlsContextTest, SelfSignedNeverOverwrites) {
  EXPECT_THROW(write_self_signed_certificate(dir_ / "new.pem", dir_ / "key.pem"),
               std::runtime_error);
}

TEST_F(TlsContextTest, MissingCertificateNamesKeyAndFile) {
  config_.tls.certificate = dir_ / "missing.pem";
  const auto message = error();
  EXPECT_NE(message.find("key 'tls.certificate'"), std::string::npos) << message;
  EXPECT_NE(message.find((dir_ / "missing.pem").string()), std::string::npos) << message;
}

TEST_F(TlsContextTest, GarbageCertificateNamesKeyAndFile) {
  write(dir_ / "cert.pem", "not a certificate\n");
  const auto message = error();
  EXPECT_NE(message.find("key 'tls.certificate'"), std::string::npos) << message;
  EXPECT_NE(message.find("not a PEM certificate"), std::string::npos) << message;
}

TEST_F(TlsContextTest, MissingKeyNamesKeyAndFile) {
  config_.tls.private_key = dir_ / "missing.key";
  const auto message = error();
  EXPECT_NE(message.find("key 'tls.private_key'"), std::string::npos) << message;
  EXPECT_NE(message.find("missing.key"), std::string::npos) << message;
}

TEST_F(TlsContextTest, MismatchedKeyIsNamed) {
  config_.tls.private_key = dir_ / "other.key";
  const auto message = error();
  EXPECT_NE(message.find("key 'tls.private_key'"), std::string::npos) << message;
  EXPECT_NE(message.find("does not match"), std::string::npos) << message;
}

TEST_F(TlsContextTest, BadCipherSettingsAreNamed) {
  config_.tls.ciphers = "NO-SUCH-CIPHER";
  EXPECT_NE(error().find("key 'tls.ciphers'"), std::string::npos);
  config_.tls.ciphers.clear();
  config_.tls.ciphersuites = "TLS_NO_SUCH_SUITE";
  EXPECT_NE(error().find("key 'tls.ciphersuites'"), std::string::npos);
  config_.tls.ciphersuites.clear();
  config_.tls.groups = "no-such-group";
  EXPECT_NE(error().find("key 'tls.groups'"), std::string::npos);
}

TEST_F(TlsContextTest, SniCertificateErrorsNameTheSniKey) {
  config_.tls.sni.push_back({"mail.example.net", dir_ / "cert.pem", dir_ / "other.key"});
  EXPECT_NE(error().find("key 'tls.sni.private_key'"), std::string::npos);
}

TEST_F(TlsContextTest, MinimumVersionIsApplied) {
  TlsContexts tls12(config_);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(tls12.current()->context().native_handle()),
            TLS1_2_VERSION);
  config_.tls.min_version = config::TlsVersion::v1_3;
  TlsContexts tls13(config_);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(tls13.current()->context().native_handle()),
            TLS1_3_VERSION);
}

TEST_F(TlsContextTest, ReloadMakesANewGenerationAndAFailedOneKeepsTheOld) {
  TlsContexts contexts(config_);
  const auto first = contexts.current();
  contexts.reload();
  const auto second = contexts.current();
  EXPECT_NE(first, second);
  write(dir_ / "cert.pem", "broken\n");
  EXPECT_THROW(contexts.reload(), config::ConfigError);
  EXPECT_EQ(contexts.current(), second);
}

TEST(MakeTlsContextsTest, NothingWhenNoListenerUsesTls) {
  config::Config config;
  config.listen.push_back(config::parse_listen_address("127.0.0.1:110"));
  EXPECT_EQ(make_tls_contexts(config), nullptr);
}

}  // namespace
}  // namespace postern::net
