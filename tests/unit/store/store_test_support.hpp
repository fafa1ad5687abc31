// Scaffolding for the store/ tests: a private directory under /tmp per test and small file helpers,
// so that every test starts from an empty disk and leaves nothing behind.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store/maildrop.hpp"

namespace postern::store::test_support {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/postern-store-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every entry name in dir, sorted; empty if dir does not exist.
inline std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// Reads through a small buffer, to exercise repeated read() calls.
inline std::string read_all(MessageSource& source) {
  std::string text;
  char buf[7];
  while (const std::size_t n = source.read(buf)) text.append(buf, n);
  return text;
}

inline std::vector<std::string> uidls_of(const Maildrop& maildrop) {
  std::vector<std::string> uidls;
  for (const MessageInfo& info : maildrop.messages()) uidls.push_back(info.uidl);
  return uidls;
}

inline std::vector<std::uint64_t> sizes_of(const Maildrop& maildrop) {
  std::vector<std::uint64_t> sizes;
  for (const MessageInfo& info : maildrop.messages()) sizes.push_back(info.size);
  return sizes;
}

}  // namespace postern::store::test_support
