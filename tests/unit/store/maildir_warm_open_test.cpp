// A warm open of an unchanged maildrop takes its file list from the index instead of reading cur/;
// any change to cur/ (delivery, deletion, flag change by another reader) makes it list cur/ again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <time.h>

#include <chrono>
#include <thread>

#include "store/dir_stamp.hpp"
#include "store/maildir.hpp"
#include "store/maildir_delivery.hpp"
#include "store/unique_fd.hpp"
#include "store_test_support.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using test_support::read_all;
using test_support::read_file;
using test_support::TempDir;
using test_support::uidls_of;
using test_support::write_file;

class MaildirWarmOpen : public ::testing::Test {
 protected:
  void SetUp() override {
    open();
    write_file(cur("1.a:2,"), "a\n");
    write_file(cur("2.b:2,"), "bb\n");
  }

  std::unique_ptr<Maildrop> open() { return store_.open({"alice", ""}); }
  fs::path cur(const std::string& name) const { return maildir_ / "cur" / name; }
  fs::path index_path() const { return maildir_ / "postern-index"; }
  std::string index_header() const {
    const std::string text = read_file(index_path());
    return text.substr(0, text.find('\n'));
  }
  DirStamp cur_stamp() const {
    const UniqueFd fd(::open((maildir_ / "cur").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return read_dir_stamp(fd.get()).value();
  }

  // An index stamped with cur/ as it is now that also names a message cur/ does not hold: only an
  // open that trusts the index without listing cur/ shows it. Then lets the file-system clock move
  // on, so the test's next change to cur/ is sure to give it another ctime.
  void write_stamped_index_with_phantom() {
    const DirStamp stamp = cur_stamp();
    write_file(index_path(), "postern-maildir-index 1 3 " + to_string(stamp) +
                                 "\n3 1.a:2,\n4 2.b:2,\n5 3.phantom:2,\n");
    timespec now{};
    do ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    while (now.tv_sec == stamp.ctime_sec && now.tv_nsec <= stamp.ctime_nsec);
  }

  TempDir tmp_;
  MaildirStore store_{(tmp_.path() / "%u").string()};
  fs::path maildir_ = tmp_.path() / "alice";
};

TEST_F(MaildirWarmOpen, UnchangedCurIsNotListedAgain) {
  write_stamped_index_with_phantom();
  const auto maildrop = open();
  EXPECT_EQ(uidls_of(*maildrop), (std::vector<std::string>{"1.a", "2.b", "3.phantom"}));
  EXPECT_EQ(maildrop->messages()[1].size, 4U);
  EXPECT_EQ(read_all(*maildrop->open_message(1)), "bb\n");
}

TEST_F(MaildirWarmOpen, DeletionBehindOurBackMakesItListAgain) {
  write_stamped_index_with_phantom();
  fs::remove(cur("1.a:2,"));
  EXPECT_EQ(uidls_of(*open()), std::vector<std::string>{"2.b"});
}

TEST_F(MaildirWarmOpen, FlagChangeMakesItListAgain) {
  write_stamped_index_with_phantom();
  fs::rename(cur("2.b:2,"), cur("2.b:2,S"));
  EXPECT_EQ(uidls_of(*open()), (std::vector<std::string>{"1.a", "2.b"}));
}

TEST_F(MaildirWarmOpen, NewMailMakesItListAgain) {
  write_stamped_index_with_phantom();
  deliver_to_maildir(maildir_, "new\n");
  EXPECT_EQ(uidls_of(*open()).size(), 3U);
}

TEST_F(MaildirWarmOpen, OwnDeletionsDropTheStamp) {
  write_stamped_index_with_phantom();
  {
    const auto maildrop = open();
    const std::size_t doomed[] = {0};
    maildrop->commit_deletions(doomed);
  }
  EXPECT_TRUE(index_header().ends_with(" -")) << index_header();
  // The deletion changed cur/, so this open lists it: the phantom is gone with the stamp.
  EXPECT_EQ(uidls_of(*open()), std::vector<std::string>{"2.b"});
}

TEST_F(MaildirWarmOpen, StampIsRecordedOnlyOnceCurHasSettled) {
  open();
  EXPECT_TRUE(index_header().ends_with(" -")) << "cur/ just changed: " << index_header();
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  open();
  EXPECT_EQ(index_header(), "postern-maildir-index 1 2 " + to_string(cur_stamp()));
  struct stat before {};
  ASSERT_EQ(::stat(index_path().c_str(), &before), 0);
  open();
  struct stat after {};
  ASSERT_EQ(::stat(index_path().c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "an unchanged maildrop must not rewrite its index";
}

}  // namespace
}  // namespace postern::store
