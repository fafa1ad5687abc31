// An open Maildir maildrop: its snapshot, reading messages that moved or vanished, and deletions.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "store/maildir.hpp"
#include "store/maildir_delivery.hpp"
#include "store_test_support.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using test_support::entries_of;
using test_support::read_all;
using test_support::read_file;
using test_support::TempDir;
using test_support::uidls_of;
using test_support::write_file;

class MaildirMaildrop : public ::testing::Test {
 protected:
  void SetUp() override {
    open();  // creates the maildir
    write_file(cur("1.a:2,"), "first\n");
    write_file(cur("2.b:2,S"), "second\n");
    write_file(cur("3.c:2,"), "third\n");
  }
  std::unique_ptr<Maildrop> open() { return store_.open({"alice", ""}); }
  fs::path cur(const std::string& name) const { return maildir_ / "cur" / name; }

  TempDir tmp_;
  MaildirStore store_{(tmp_.path() / "%u").string()};
  fs::path maildir_ = tmp_.path() / "alice";
};

TEST_F(MaildirMaildrop, ReadsEachMessageAsStored) {
  const auto maildrop = open();
  ASSERT_EQ(maildrop->messages().size(), 3U);
  EXPECT_EQ(read_all(*maildrop->open_message(0)), "first\n");
  EXPECT_EQ(read_all(*maildrop->open_message(2)), "third\n");
  EXPECT_THROW(maildrop->open_message(3), std::out_of_range);
}

// What the event loop uses: the same bytes, without blocking, for files in the page cache (these
// were just written, so they are); anything the fast path cannot do falls back to nullptr.
TEST_F(MaildirMaildrop, CachedOpenAndReadGiveTheSameBytes) {
  const auto maildrop = open();
  const auto source = maildrop->open_message_cached(1);
  ASSERT_NE(source, nullptr);
  char buf[64];
  const auto first = source->read_cached(buf);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(std::string_view(buf, *first), "second\n");
  EXPECT_EQ(source->read_cached(buf), std::optional<std::size_t>(0));  // end of file
  EXPECT_THROW(maildrop->open_message_cached(3), std::out_of_range);
}

TEST_F(MaildirMaildrop, CachedOpenOfAVanishedOrMovedMessageLeavesItToTheSlowPath) {
  const auto maildrop = open();
  fs::remove(cur("3.c:2,"));
  EXPECT_EQ(maildrop->open_message_cached(2), nullptr);
  EXPECT_THROW(maildrop->open_message(2), StoreError);
  fs::rename(cur("1.a:2,"), cur("1.a:2,S"));
  EXPECT_EQ(maildrop->open_message_cached(0), nullptr);
  EXPECT_EQ(read_all(*maildrop->open_message(0)), "first\n");  // found again by unique name
}

TEST_F(MaildirMaildrop, CachedOpenRefusesASymlinkedMessage) {
  write_file(tmp_.path() / "elsewhere", "secret\n");
  const auto maildrop = open();
  fs::remove(cur("2.b:2,S"));
  fs::create_symlink(tmp_.path() / "elsewhere", cur("2.b:2,S"));
  EXPECT_EQ(maildrop->open_message_cached(1), nullptr);
  EXPECT_THROW(maildrop->open_message(1), StoreError);
}

// A file rewritten behind our back keeps its name, and so its place in a stamped index: once the
// session has noticed, the next one must measure it again instead of trusting the old size.
TEST_F(MaildirMaildrop, AForgottenMessageIsMeasuredAgainByTheNextSession) {
  open();  // the index now holds sizes 7, 8, 7
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // let cur/ settle: stamped
  open();
  write_file(cur("2.b:2,S"), "second, and much longer\n");  // same name: cur/ unchanged
  {
    const auto stale = open();
    EXPECT_EQ(stale->messages()[1].size, 8U);  // the index, trusted
    stale->forget_cached(1);
  }
  const auto next = open();
  ASSERT_EQ(next->messages().size(), 3U);
  EXPECT_EQ(next->messages()[2].uidl, "2.b");  // measured again, after the indexed ones
  EXPECT_EQ(next->messages()[2].size, 25U);
}

TEST_F(MaildirMaildrop, MailDeliveredAfterOpenWaitsForTheNextSession) {
  std::string unique;
  {
    const auto maildrop = open();
    unique = deliver_to_maildir(maildir_, "late\n");
    EXPECT_EQ(maildrop->messages().size(), 3U);
    EXPECT_EQ(entries_of(maildir_ / "new"), std::vector<std::string>{unique});
  }
  const auto next = open();
  ASSERT_EQ(next->messages().size(), 4U);
  EXPECT_EQ(read_all(*next->open_message(3)), "late\n");
}

TEST_F(MaildirMaildrop, MessageDeletedBehindOurBackIsATemporaryError) {
  const auto maildrop = open();
  fs::remove(cur("2.b:2,S"));
  try {
    maildrop->open_message(1);
    FAIL() << "opened a deleted message";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreErrc::temporary);
    EXPECT_STREQ(e.what(), "message 2 (2.b) has vanished from the maildir");
  }
}

TEST_F(MaildirMaildrop, MessageRenamedWithNewFlagsIsStillFound) {
  const auto maildrop = open();
  fs::rename(cur("1.a:2,"), cur("1.a:2,RS"));
  EXPECT_EQ(read_all(*maildrop->open_message(0)), "first\n");
  fs::rename(cur("1.a:2,RS"), cur("1.a:2,FRS"));
  EXPECT_EQ(read_all(*maildrop->open_message(0)), "first\n");
}

TEST_F(MaildirMaildrop, CommitRemovesOnlyTheGivenMessages) {
  {
    const auto maildrop = open();
    const std::size_t doomed[] = {0, 2};
    maildrop->commit_deletions(doomed);
  }
  EXPECT_EQ(entries_of(maildir_ / "cur"), std::vector<std::string>{"2.b:2,S"});
  EXPECT_EQ(read_file(maildir_ / "postern-index"), "postern-maildir-index 1 1 -\n8 2.b:2,S\n");
  EXPECT_EQ(uidls_of(*open()), std::vector<std::string>{"2.b"});
}

TEST_F(MaildirMaildrop, CommitToleratesFilesAlreadyGoneOrRenamed) {
  const auto maildrop = open();
  fs::remove(cur("1.a:2,"));
  fs::rename(cur("3.c:2,"), cur("3.c:2,T"));
  const std::size_t doomed[] = {0, 2, 2};
  EXPECT_NO_THROW(maildrop->commit_deletions(doomed));
  EXPECT_NO_THROW(maildrop->commit_deletions(doomed));
  EXPECT_EQ(entries_of(maildir_ / "cur"), std::vector<std::string>{"2.b:2,S"});
}

TEST_F(MaildirMaildrop, CommitWithABadIndexDeletesNothing) {
  const auto maildrop = open();
  const std::size_t doomed[] = {0, 7};
  EXPECT_THROW(maildrop->commit_deletions(doomed), std::out_of_range);
  EXPECT_EQ(entries_of(maildir_ / "cur").size(), 3U);
}

TEST_F(MaildirMaildrop, CommitOfMailTakenFromNew) {
  const std::string unique = deliver_to_maildir(maildir_, "new mail\n");
  {
    const auto maildrop = open();
    const std::size_t doomed[] = {3};
    maildrop->commit_deletions(doomed);
  }
  EXPECT_TRUE(entries_of(maildir_ / "new").empty());
  EXPECT_EQ(entries_of(maildir_ / "cur").size(), 3U);
}

TEST_F(MaildirMaildrop, FailedDeletionIsReportedAfterTheOthersAreDone) {
  const auto maildrop = open();
  // A directory where the file was: unlink fails with EISDIR, whoever runs the test.
  fs::remove(cur("1.a:2,"));
  fs::create_directory(cur("1.a:2,"));
  const std::size_t doomed[] = {0, 2};
  try {
    maildrop->commit_deletions(doomed);
    FAIL() << "deleted a directory";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreErrc::permanent);
    EXPECT_NE(std::string(e.what()).find("cur/1.a:2,"), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries_of(maildir_ / "cur"), (std::vector<std::string>{"1.a:2,", "2.b:2,S"}));
  EXPECT_EQ(read_file(maildir_ / "postern-index"),
            "postern-maildir-index 1 2 -\n7 1.a:2,\n8 2.b:2,S\n");
}

}  // namespace
}  // namespace postern::store
