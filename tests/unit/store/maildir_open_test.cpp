// Opening a Maildir maildrop: new/ -> cur/, what counts as a message, sizes, UIDLs and order.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "store/maildir.hpp"
#include "store/maildir_delivery.hpp"
#include "store/uidl.hpp"
#include "store_test_support.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using test_support::entries_of;
using test_support::read_all;
using test_support::sizes_of;
using test_support::TempDir;
using test_support::uidls_of;
using test_support::write_file;

class MaildirOpen : public ::testing::Test {
 protected:
  std::unique_ptr<Maildrop> open() { return store_.open({"alice@example.com", ""}); }
  fs::path dir(const char* sub) const { return maildir_ / sub; }

  TempDir tmp_;
  MaildirStore store_{(tmp_.path() / "%d" / "%n").string()};
  fs::path maildir_ = tmp_.path() / "example.com" / "alice";
};

TEST_F(MaildirOpen, CreatesAnEmptyMaildrop) {
  const auto maildrop = open();
  EXPECT_TRUE(maildrop->messages().empty());
  for (const char* sub : {"tmp", "new", "cur"}) {
    struct stat st {};
    ASSERT_EQ(::stat(dir(sub).c_str(), &st), 0) << sub;
    EXPECT_EQ(st.st_mode & 0777, 0700U) << sub;
  }
}

// Enough unindexed files without a size in their names that they are read by several threads:
// every size must still land on its own message, in UIDL order.
TEST_F(MaildirOpen, SizesManyUnnamedMessagesInParallelEachToItsOwn) {
  open();  // creates the maildir
  constexpr int count = 3000;
  std::vector<std::uint64_t> expected;
  for (int i = 0; i < count; ++i) {
    // i lines of "x\n": i * 3 octets as CRLF.
    std::string text;
    for (int line = 0; line < i; ++line) text += "x\n";
    write_file(dir("cur") / (std::to_string(1000000 + i) + ".m" + std::to_string(i) + ".h:2,"),
               text);
    expected.push_back(static_cast<std::uint64_t>(i) * 3);
  }
  const auto maildrop = open();
  ASSERT_EQ(maildrop->messages().size(), static_cast<std::size_t>(count));
  EXPECT_EQ(sizes_of(*maildrop), expected);
  EXPECT_EQ(maildrop->messages()[17].uidl, uidl_for_unique_name("1000017.m17.h"));
}

// Deliveries that died before their rename leave files in tmp/: the Maildir convention removes
// them after 36 hours, at a login; anything younger may be a delivery still being written.
TEST_F(MaildirOpen, RemovesAbandonedDeliveriesFromTmpAfter36Hours) {
  open();  // creates the maildir
  write_file(dir("tmp") / "1.abandoned.h", "half a mess");
  write_file(dir("tmp") / "2.writing.h", "being written");
  const timespec old_time{::time(nullptr) - 37 * 3600, 0};
  const timespec times[2] = {old_time, old_time};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir("tmp") / "1.abandoned.h").c_str(), times, 0), 0);
  const auto maildrop = open();
  EXPECT_TRUE(maildrop->messages().empty());
  EXPECT_EQ(entries_of(dir("tmp")), std::vector<std::string>{"2.writing.h"});
}

TEST_F(MaildirOpen, MovesNewMailToCurWithInfoSuffix) {
  const std::string first = deliver_to_maildir(maildir_, "a\nb\n");
  const std::string second = deliver_to_maildir(maildir_, "Subject: x\r\n\r\nno final newline");
  const auto maildrop = open();
  EXPECT_TRUE(entries_of(dir("new")).empty());
  EXPECT_EQ(entries_of(dir("cur")), (std::vector<std::string>{first + ":2,", second + ":2,"}));
  EXPECT_EQ(sizes_of(*maildrop), (std::vector<std::uint64_t>{6, 32}));
  EXPECT_EQ(read_all(*maildrop->open_message(1)), "Subject: x\r\n\r\nno final newline");
}

TEST_F(MaildirOpen, UidlsSurviveTheMoveAndReopening) {
  const std::string unique = deliver_to_maildir(maildir_, "x\n");
  std::vector<std::string> first_uidls;
  {
    const auto maildrop = open();
    first_uidls = uidls_of(*maildrop);
  }
  EXPECT_EQ(first_uidls, std::vector<std::string>{uidl_for_unique_name(unique)});
  EXPECT_EQ(uidls_of(*open()), first_uidls);
}

TEST_F(MaildirOpen, FlaggedFilesInCurKeepTheirNames) {
  open();
  write_file(dir("cur") / "1.a:2,S", "seen\n");
  write_file(dir("cur") / "2.b:2,RS", "replied\n");
  const auto maildrop = open();
  EXPECT_EQ(uidls_of(*maildrop), (std::vector<std::string>{"1.a", "2.b"}));
  EXPECT_EQ(entries_of(dir("cur")), (std::vector<std::string>{"1.a:2,S", "2.b:2,RS"}));
}

TEST_F(MaildirOpen, IgnoresDotfilesTmpDirectoriesAndSymlinks) {
  open();
  write_file(dir("new") / ".hidden", "x\n");
  write_file(dir("cur") / ".hidden:2,", "x\n");
  write_file(dir("tmp") / "3.c", "in progress\n");
  fs::create_directory(dir("cur") / "4.d");
  write_file(tmp_.path() / "outside", "secret\n");
  fs::create_symlink(tmp_.path() / "outside", dir("cur") / "5.e:2,");
  write_file(dir("cur") / "6.f:2,", "real\n");
  const auto maildrop = open();
  EXPECT_EQ(uidls_of(*maildrop), std::vector<std::string>{"6.f"});
  EXPECT_EQ(entries_of(dir("new")), std::vector<std::string>{".hidden"});
  EXPECT_EQ(entries_of(dir("tmp")), std::vector<std::string>{"3.c"});
}

TEST_F(MaildirOpen, ListsAUniqueNameOnlyOnce) {
  open();
  write_file(dir("cur") / "7.g:2,", "one\n");
  write_file(dir("cur") / "7.g:2,S", "one\n");
  write_file(dir("cur") / "8.h:2,", "two\n");
  const auto maildrop = open();
  EXPECT_EQ(uidls_of(*maildrop), (std::vector<std::string>{"7.g", "8.h"}));
}

TEST_F(MaildirOpen, SkipsNamesWithNewline) {
  open();
  write_file(dir("cur") / "9.i\nj:2,", "x\n");
  write_file(dir("cur") / "10.k:2,", "x\n");
  EXPECT_EQ(uidls_of(*open()), std::vector<std::string>{"10.k"});
}

TEST_F(MaildirOpen, LongOrOddNamesGetHashedUidls) {
  open();
  const std::string spaced = "11.with space";
  write_file(dir("cur") / (spaced + ":2,"), "x\n");
  EXPECT_EQ(uidls_of(*open()), std::vector<std::string>{uidl_for_unique_name(spaced)});
}

TEST_F(MaildirOpen, NewMessagesSortNaturally) {
  open();
  for (const char* name : {"1000.b", "999.a", "10000.c", "1000.a"})
    write_file(dir("new") / name, "x\n");
  EXPECT_EQ(uidls_of(*open()), (std::vector<std::string>{"999.a", "1000.a", "1000.b", "10000.c"}));
}

TEST_F(MaildirOpen, KnownMessagesKeepTheirPlaceAndNewOnesGoLast) {
  open();
  write_file(dir("new") / "500.m", "x\n");
  write_file(dir("new") / "600.m", "x\n");
  open();
  write_file(dir("new") / "100.m", "x\n");  // sorts first by name, but arrived last
  EXPECT_EQ(uidls_of(*open()), (std::vector<std::string>{"500.m", "600.m", "100.m"}));
}

}  // namespace
}  // namespace postern::store
