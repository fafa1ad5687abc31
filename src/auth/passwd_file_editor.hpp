// Edits of a passwd-file for `postern user add|passwd|del|list`. Each change rewrites the file
// atomically, so a running server re-reading it sees the old or the new version, never a torn one.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace postern::auth {

// All edits write "<file>.tmp.<pid>", fsync it, rename it over the file and fsync the directory.
// Comments, other lines, the file's mode and (where permitted) its owner are kept; a new file is
// created with mode 0600. Failures throw PasswdFileError with a message a person can act on.
void add_user(const std::filesystem::path& file, std::string_view user,
              std::string_view stored_password);
// Replaces only the password field; uid, gid, home and extra fields stay as they were.
void set_password(const std::filesystem::path& file, std::string_view user,
                  std::string_view stored_password);
void remove_user(const std::filesystem::path& file, std::string_view user);
// The user names in file order; lines that do not parse are left out.
std::vector<std::string> list_users(const std::filesystem::path& file);

}  // namespace postern::auth
