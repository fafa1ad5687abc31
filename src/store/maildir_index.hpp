// postern-index: each message's file name, POP3 size and list position, so an unchanged maildrop
// opens without reading a message. Being a cache, a doubtful index is discarded, never patched.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/dir_stamp.hpp"

namespace postern::store {

struct IndexEntry {
  std::string_view file_name;  // in cur/ when the index was written; flags may have changed since
  std::uint64_t size = 0;
};

// The index as found on disk at construction. Entries point into this object, hence no moves.
class StoredIndex {
 public:
  explicit StoredIndex(const std::filesystem::path& maildir);
  StoredIndex(const StoredIndex&) = delete;
  StoredIndex& operator=(const StoredIndex&) = delete;

  // False when missing, unreadable, of another version, or not exactly what write_index writes;
  // entries() is then empty and the caller rebuilds.
  bool valid() const noexcept { return valid_; }
  std::span<const IndexEntry> entries() const noexcept { return entries_; }
  // cur/ as it was when the listing above was taken, if it was settled then (see dir_stamp.hpp).
  const std::optional<DirStamp>& cur_stamp() const noexcept { return cur_stamp_; }

 private:
  bool read(const std::filesystem::path& path);
  bool parse(const std::filesystem::path& path);

  std::string text_;
  std::vector<IndexEntry> entries_;
  std::optional<DirStamp> cur_stamp_;
  bool valid_ = false;
};

// Replaces the index (temporary file + rename). Best effort: a failure is logged and the next open
// rebuilds. Names must be as listed from cur/ (no '\n', no '/'). cur_stamp: see cur_stamp().
void write_index(const std::filesystem::path& maildir, std::span<const IndexEntry> entries,
                 const std::optional<DirStamp>& cur_stamp);

}  // namespace postern::store
