#include "fetch/spool.hpp"

#include <fcntl.h>
#include <openssl/evp.h>

#include <cerrno>

#include "auth/sasl/digest.hpp"
#include "store/posix_io.hpp"

namespace postern::fetch {
namespace {

constexpr std::size_t buffer_size = 64 * 1024;

}  // namespace

FetchError from_store_error(const store::StoreError& error) {
  return FetchError(
      error.code() == store::StoreErrc::temporary ? ErrorKind::temporary : ErrorKind::failure,
      error.what());
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    throw FetchError(ErrorKind::failure, "cannot start SHA-256");
  }
}

Sha256Stream::~Sha256Stream() {
  EVP_MD_CTX_free(ctx_);
}

void Sha256Stream::update(std::string_view data) {
  EVP_DigestUpdate(ctx_, data.data(), data.size());
}

std::string Sha256Stream::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  return auth::sasl::to_hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

BufferedFile::BufferedFile(store::UniqueFd fd, std::filesystem::path path)
    : fd_(std::move(fd)), path_(std::move(path)) {
  buffer_.reserve(buffer_size);
}

void BufferedFile::write(std::string_view data) {
  size_ += data.size();
  if (buffer_.size() + data.size() > buffer_size) {
    flush();
    if (data.size() >= buffer_size) {
      try {
        store::write_all(fd_.get(), data, path_);
      } catch (const store::StoreError& e) {
        throw from_store_error(e);
      }
      return;
    }
  }
  buffer_.append(data);
}

void BufferedFile::flush() {
  if (buffer_.empty()) return;
  try {
    store::write_all(fd_.get(), buffer_, path_);
  } catch (const store::StoreError& e) {
    throw from_store_error(e);
  }
  buffer_.clear();
}

void BufferedFile::release_buffer() {
  flush();
  buffer_ = std::string();
}

void BufferedFile::fsync() {
  flush();
  try {
    store::fsync_or_throw(fd_.get(), path_);
  } catch (const store::StoreError& e) {
    throw from_store_error(e);
  }
}

BufferedFile open_spool(const std::filesystem::path& spool) {
  store::UniqueFd fd(
      ::open(spool.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) throw from_store_error(store::errno_error(errno, "cannot create", spool));
  return BufferedFile(std::move(fd), spool);
}

}  // namespace postern::fetch
