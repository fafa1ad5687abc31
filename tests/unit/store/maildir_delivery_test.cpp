#include "store/maildir_delivery.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <set>

#include "store/maildir_layout.hpp"
#include "store/posix_io.hpp"
#include "store_test_support.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using test_support::entries_of;
using test_support::read_file;
using test_support::TempDir;

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(DeliverToMaildir, CreatesTheMaildirAndWritesIntoNew) {
  const TempDir tmp;
  const fs::path maildir = tmp.path() / "example.com" / "alice";
  const std::string message = "Subject: hi\n\nbody\n";
  const std::string unique = deliver_to_maildir(maildir, message);

  for (const char* sub : {"tmp", "new", "cur"}) EXPECT_EQ(mode_of(maildir / sub), 0700U) << sub;
  EXPECT_EQ(entries_of(maildir / "new"), std::vector<std::string>{unique});
  EXPECT_TRUE(entries_of(maildir / "tmp").empty());
  EXPECT_TRUE(entries_of(maildir / "cur").empty());
  EXPECT_EQ(read_file(maildir / "new" / unique), message);
}

TEST(DeliverToMaildir, NameCarriesRawAndCrlfSizes) {
  const TempDir tmp;
  const std::string unique =
      deliver_to_maildir(tmp.path(), "a\nb\r\nc");  // 6 raw; a CRLF b CRLF c CRLF
  const std::regex shape(R"(\d+\.M\d{1,6}P\d+Q\d+\.[^/:]+,S=6,W=9)");
  EXPECT_TRUE(std::regex_match(unique, shape)) << unique;
}

TEST(DeliverToMaildir, EveryDeliveryGetsItsOwnName) {
  const TempDir tmp;
  std::set<std::string> names;
  for (int i = 0; i < 50; ++i) names.insert(deliver_to_maildir(tmp.path(), "x\n"));
  EXPECT_EQ(names.size(), 50U);
  EXPECT_EQ(entries_of(tmp.path() / "new").size(), 50U);
}

TEST(DeliverToMaildir, EmptyMessage) {
  const TempDir tmp;
  const std::string unique = deliver_to_maildir(tmp.path(), "");
  EXPECT_NE(unique.find(",S=0,W=0"), std::string::npos) << unique;
}

TEST(DeliverToMaildir, PathThroughAFileIsAPermanentError) {
  const TempDir tmp;
  test_support::write_file(tmp.path() / "file", "not a directory");
  try {
    deliver_to_maildir(tmp.path() / "file" / "maildir", "x\n");
    FAIL() << "delivered under a regular file";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreErrc::permanent);
    EXPECT_NE(std::string(e.what()).find("file/maildir"), std::string::npos) << e.what();
  }
}

TEST(DeliverToMaildir, RefusesASymlinkedTmpFolder) {
  const TempDir tmp;
  const fs::path maildir = tmp.path() / "maildir";
  fs::create_directories(maildir / "new");
  fs::create_directories(maildir / "cur");
  fs::create_directories(tmp.path() / "elsewhere");
  fs::create_directory_symlink(tmp.path() / "elsewhere", maildir / "tmp");
  EXPECT_THROW(deliver_to_maildir(maildir, "x\n"), StoreError);
  EXPECT_TRUE(entries_of(tmp.path() / "elsewhere").empty());
  EXPECT_TRUE(entries_of(maildir / "new").empty());
}

TEST(ErrcForErrno, FullDisksAndIoErrorsAreTemporary) {
  for (const int err : {ENOSPC, EDQUOT, EIO, EMFILE, ENFILE, ENOMEM})
    EXPECT_EQ(errc_for_errno(err), StoreErrc::temporary);
  for (const int err : {EACCES, EPERM, ENOTDIR, EROFS, ELOOP, EINVAL})
    EXPECT_EQ(errc_for_errno(err), StoreErrc::permanent);
}

}  // namespace
}  // namespace postern::store
