// A message read straight from its file: plain read(2) on a descriptor opened for this one
// RETR/TOP, so memory stays at the caller's buffer whatever the message size.
#pragma once

#include <filesystem>

#include "store/maildrop.hpp"
#include "store/unique_fd.hpp"

namespace postern::store {

class FileMessageSource final : public MessageSource {
 public:
  FileMessageSource(UniqueFd fd, std::filesystem::path path)
      : fd_(std::move(fd)), path_(std::move(path)) {}
  // Throws StoreError(temporary) on a read error.
  std::size_t read(std::span<char> buf) override;
  std::optional<std::size_t> read_cached(std::span<char> buf) override;

 private:
  UniqueFd fd_;
  std::filesystem::path path_;  // for error messages
};

}  // namespace postern::store
