// postern-index: sizes are read once and then trusted; a doubtful index is thrown away whole.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sstream>

#include "store/maildir.hpp"
#include "store_test_support.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using test_support::read_file;
using test_support::sizes_of;
using test_support::TempDir;
using test_support::uidls_of;
using test_support::write_file;

class MaildirIndex : public ::testing::Test {
 protected:
  std::unique_ptr<Maildrop> open() { return store_.open({"alice", ""}); }
  fs::path cur(const std::string& name) const { return maildir_ / "cur" / name; }
  fs::path index_path() const { return maildir_ / "postern-index"; }

  // Two messages indexed by a first open, then both files rewritten with other lengths under the
  // same names: an open that trusts the index reports {3, 4}, one that rebuilds it reports {6, 8}.
  void index_then_change_files() {
    open();
    write_file(cur("1.a:2,"), "a\n");
    write_file(cur("2.b:2,"), "bb\n");
    EXPECT_EQ(sizes_of(*open()), (std::vector<std::uint64_t>{3, 4}));
    write_file(cur("1.a:2,"), "aaaa\n");
    write_file(cur("2.b:2,"), "bbbbbb\n");
  }

  // The entry lines, without the header (whose stamp depends on timing).
  std::vector<std::string> index_lines() const {
    std::vector<std::string> lines;
    std::istringstream text(read_file(index_path()));
    std::string line;
    std::getline(text, line);
    while (std::getline(text, line)) lines.push_back(line);
    return lines;
  }

  ino_t index_inode() const {
    struct stat st {};
    EXPECT_EQ(::stat(index_path().c_str(), &st), 0);
    return st.st_ino;
  }

  TempDir tmp_;
  MaildirStore store_{(tmp_.path() / "%u").string()};
  fs::path maildir_ = tmp_.path() / "alice";
};

TEST_F(MaildirIndex, SecondOpenTrustsTheIndexInsteadOfRereading) {
  index_then_change_files();
  EXPECT_EQ(sizes_of(*open()), (std::vector<std::uint64_t>{3, 4}));
}

TEST_F(MaildirIndex, HoldsHeaderAndOneLinePerMessageNameLast) {
  open();
  write_file(cur("1.with space:2,"), "x\n");
  open();
  EXPECT_TRUE(read_file(index_path()).starts_with("postern-maildir-index 1 1 "))
      << read_file(index_path());
  EXPECT_EQ(index_lines(), std::vector<std::string>{"3 1.with space:2,"});
}

TEST_F(MaildirIndex, NotRewrittenWhenNothingChanged) {
  index_then_change_files();
  const ino_t before = index_inode();
  open();
  EXPECT_EQ(index_inode(), before);
}

TEST_F(MaildirIndex, DamagedIndexIsRebuiltWhole) {
  const std::string damaged[] = {
      "garbage",
      "",
      "postern-maildir-index 1 2 -\n3 1.a:2,\n4 2.",           // cut mid-line
      "postern-maildir-index 1 2 -\n3 1.a:2,\n",               // cut at a line boundary
      "postern-maildir-index 2 2 -\n3 1.a:2,\n4 2.b:2,\n",     // another version
      "postern-maildir-index 1 2\n3 1.a:2,\n4 2.b:2,\n",       // no stamp field
      "postern-maildir-index 1 2 1:2\n3 1.a:2,\n4 2.b:2,\n",   // a broken stamp
      "postern-maildir-index 1 2 -\n3 1.a:2,\n3 1.a:2,S\n",    // a unique name twice
      "postern-maildir-index 1 2 -\n3 1.a:2,\nx4 2.b:2,\n",    // not a number
      "postern-maildir-index 1 2 -\n3 1.a:2,\n4 \n",           // no name
      "postern-maildir-index 1 2 -\n3 1.a:2,\n4 ../2.b:2,\n",  // a path
      "postern-maildir-index 1 2 -\n3 1.a:2,\n4 .2.b:2,\n",    // a dotfile
      "postern-maildir-index 1 1 -\n3 1.a:2,\n4 2.b:2,\n",     // more lines than counted
      "postern-maildir-index 1 99999999999 -\n3 1.a:2,\n",     // absurd count
  };
  index_then_change_files();
  const std::string good = read_file(index_path());
  for (const std::string& text : damaged) {
    write_file(index_path(), text);
    EXPECT_EQ(sizes_of(*open()), (std::vector<std::uint64_t>{6, 8})) << "index: " << text;
    EXPECT_EQ(index_lines(), (std::vector<std::string>{"6 1.a:2,", "8 2.b:2,"}));
    write_file(cur("1.a:2,"), "a\n");  // stale again for the next case
    write_file(cur("2.b:2,"), "bb\n");
    write_file(index_path(), good);
    EXPECT_EQ(sizes_of(*open()), (std::vector<std::uint64_t>{3, 4}));
    write_file(cur("1.a:2,"), "aaaa\n");
    write_file(cur("2.b:2,"), "bbbbbb\n");
  }
}

TEST_F(MaildirIndex, IndexThatIsNotAFileIsIgnored) {
  index_then_change_files();
  fs::remove(index_path());
  fs::create_directory(index_path());
  EXPECT_EQ(sizes_of(*open()), (std::vector<std::uint64_t>{6, 8}));
}

TEST_F(MaildirIndex, VanishedFilesLeaveTheIndex) {
  index_then_change_files();
  fs::remove(cur("1.a:2,"));
  EXPECT_EQ(uidls_of(*open()), std::vector<std::string>{"2.b"});
  EXPECT_EQ(index_lines(), std::vector<std::string>{"4 2.b:2,"});
}

TEST_F(MaildirIndex, FlagChangesDoNotInvalidateEntries) {
  index_then_change_files();
  fs::rename(cur("1.a:2,"), cur("1.a:2,S"));
  EXPECT_EQ(sizes_of(*open()), (std::vector<std::uint64_t>{3, 4}));
}

}  // namespace
}  // namespace postern::store
