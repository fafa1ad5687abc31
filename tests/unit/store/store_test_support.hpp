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
#include "support/temp_dir.hpp"

namespace postern::store::test_support {

namespace fs = std::filesystem;

using postern::test_support::read_file;
using postern::test_support::write_file;

// A scratch directory under /tmp per test.
class TempDir : public postern::test_support::TempDir {
 public:
  TempDir() : postern::test_support::TempDir("postern-store-test") {}
};

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
