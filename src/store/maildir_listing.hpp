// Reads a Maildir folder the cheap way: one readdir pass, a stat only where the file system hides
// the file type, and nothing but plain files (a symlink could point out of the maildir).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::store {

// Calls visit with the name of each regular file in the directory open at dir_fd, skipping names
// that start with '.', in readdir order. dir is only for error messages. Throws StoreError.
void for_each_message_file(int dir_fd, const std::filesystem::path& dir,
                           const std::function<void(std::string_view)>& visit);

// The same names, collected.
std::vector<std::string> list_message_files(int dir_fd, const std::filesystem::path& dir);

}  // namespace postern::store
