// A write-only file with a 64 KiB buffer, and a running SHA-256 and length of what went in:
// the account's spool (mbox and MDA) and the Maildir tmp/ file use it so that a message is
// written in large pieces whatever the size of the pieces the network hands over.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "fetch/error.hpp"
#include "store/maildrop.hpp"
#include "store/unique_fd.hpp"

namespace postern::fetch {

class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void update(std::string_view data);
  std::string hex();  // finishes: lower-case hex digest

 private:
  EVP_MD_CTX* ctx_;
};

class BufferedFile {
 public:
  // Takes an open descriptor; path is for messages.
  BufferedFile(store::UniqueFd fd, std::filesystem::path path);
  void write(std::string_view data);
  void flush();
  void fsync();           // flush, then fsync
  void release_buffer();  // flush and give the buffer's memory back
  int fd() const { return fd_.get(); }
  std::uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  store::UniqueFd fd_;
  std::filesystem::path path_;
  std::string buffer_;
  std::uint64_t size_ = 0;
};

// Opens (truncating) the spool file. Throws FetchError.
BufferedFile open_spool(const std::filesystem::path& spool);

// A local file error as FetchError: temporary for a full disk and the like, else failure.
FetchError from_store_error(const store::StoreError& error);

}  // namespace postern::fetch
