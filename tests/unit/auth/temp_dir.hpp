// A scratch directory per test for the passwd-file tests, removed with everything in it.
// Files are written whole, so each test states the exact bytes the code under test reads.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "support/temp_dir.hpp"

namespace postern::auth::testing_support {

using postern::test_support::read_file;
using postern::test_support::TempDir;
using postern::test_support::write_file;

// Writes a new file and renames it into place, as editors and config managers do.
inline void replace_file(const std::filesystem::path& file, std::string_view text) {
  auto fresh = file;
  fresh += ".new";
  write_file(fresh, text);
  std::filesystem::rename(fresh, file);
}

inline mode_t file_mode(const std::filesystem::path& file) {
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0) << file;
  return st.st_mode & 07777;
}

}  // namespace postern::auth::testing_support
