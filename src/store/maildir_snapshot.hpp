// The message list a session sees: cur/ as at open, in index order, sizes from the index or one
// read of the file. While cur/ is unchanged since the index was written, the index is the list.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "store/file_name_list.hpp"
#include "store/maildrop.hpp"

namespace postern::store {

struct Snapshot {
  FileNameList files;                  // the regular files of cur/ as listed
  std::vector<MessageInfo> messages;   // in list order
  std::vector<std::uint32_t> file_of;  // by message: its index in files
};

// cur_fd is maildir/cur, already open; cur_touched says this session changed cur/ (moved mail from
// new/), which rules out reusing the index's file list. A repeated unique name is listed once and
// names with '\n' (the index cannot hold them) are skipped, each with a warning. Throws StoreError.
Snapshot take_snapshot(const std::filesystem::path& maildir, int cur_fd, bool cur_touched);

}  // namespace postern::store
