// mbox delivery: mboxrd quoting at every split, the From line, appends under lock, and the
// reconciliation of an append cut short at any byte.
#include "fetch/mbox_destination.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "fetch/destination.hpp"
#include "fetch/error.hpp"
#include "reconcile_one.hpp"
#include "support/temp_dir.hpp"

namespace postern::fetch {
namespace {

using testing::reconcile_one;

namespace fs = std::filesystem;
using postern::test_support::read_file;
using postern::test_support::TempDir;
using postern::test_support::write_file;

std::string quote(std::string_view text, std::size_t chunk) {
  MboxrdQuoter quoter;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += chunk) quoter.feed(text.substr(i, chunk), out);
  quoter.finish(out);
  return out;
}

TEST(Mboxrd, QuotesFromLinesAtEverySplit) {
  const std::string in =
      "From: header is not a From_ line\n"
      "\n"
      "From here\n"
      ">From there\n"
      ">>From everywhere\n"
      "Fro\n"
      ">\n"
      ">Fro\n"
      " From indented\n"
      "xFrom inside\n"
      "From";
  const std::string expected =
      "From: header is not a From_ line\n"
      "\n"
      ">From here\n"
      ">>From there\n"
      ">>>From everywhere\n"
      "Fro\n"
      ">\n"
      ">Fro\n"
      " From indented\n"
      "xFrom inside\n"
      "From\n";
  for (std::size_t chunk = 1; chunk <= in.size(); ++chunk) {
    EXPECT_EQ(quote(in, chunk), expected) << "chunk " << chunk;
  }
}

TEST(Mboxrd, LineEndIsAddedOnlyWhenMissing) {
  EXPECT_EQ(quote("a\n", 1), "a\n");
  EXPECT_EQ(quote("a", 1), "a\n");
  EXPECT_EQ(quote("", 1), "");
  EXPECT_EQ(quote(">>", 1), ">>\n");
}

TEST(Mboxrd, FromLine) {
  EXPECT_EQ(mbox_from_line(0), "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
  EXPECT_EQ(mbox_from_line(1700000000), "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n");
}

// Delivers content and returns the journaled intent.
std::string deliver(Destination& destination, std::string_view content) {
  auto delivery = destination.begin(destination.plan());
  delivery->write(content);
  std::string detail;
  delivery->commit([&detail](const std::string& d) { detail = d; });
  return detail;
}

TEST(MboxDestination, AppendsRecordsWithSeparators) {
  TempDir dir;
  const fs::path mbox = dir / "inbox";
  write_file(mbox, "From old Thu Jan  1 00:00:00 1970\nno blank line after me\n");
  auto destination = make_mbox_destination(mbox, dir / "spool");
  EXPECT_EQ(destination->plan(), "");
  const std::string first = deliver(*destination, "Subject: a\n\nFrom me\n");
  const std::string second = deliver(*destination, "Subject: b\n\nx");
  const std::string text = read_file(mbox);
  const std::string old = "From old Thu Jan  1 00:00:00 1970\nno blank line after me\n";
  ASSERT_TRUE(text.starts_with(old + "\nFrom MAILER-DAEMON ")) << text;
  EXPECT_NE(text.find("\nSubject: a\n\n>From me\n\nFrom MAILER-DAEMON "), std::string::npos)
      << text;
  EXPECT_TRUE(text.ends_with("\nSubject: b\n\nx\n\n")) << text;
  EXPECT_TRUE(first.starts_with(fmt::format("mbox {} 1 ", old.size()))) << first;
  EXPECT_TRUE(first.ends_with(" " + mbox.string()));
  EXPECT_FALSE(fs::exists(dir / "inbox.lock"));
  std::string note;
  EXPECT_EQ(reconcile_one(first, dir / "spool", note), Reconciled::delivered);
  EXPECT_EQ(reconcile_one(second, dir / "spool", note), Reconciled::delivered);
  EXPECT_TRUE(note.empty());
}

TEST(MboxDestination, MissingFolderFailsAtOnce) {
  TempDir dir;
  EXPECT_THROW(make_mbox_destination(dir / "no" / "inbox", dir / "spool"), FetchError);
}

// Crash in the middle of the append, at every byte: the next run cuts the partial record off
// and the message is delivered again; a complete one is recognised.
TEST(MboxReconcile, AppendCutShortAtEveryByte) {
  TempDir dir;
  const fs::path mbox = dir / "inbox";
  const std::string before = "From a Thu Jan  1 00:00:00 1970\n\nold\n";  // needs one '\n'
  write_file(mbox, before);
  auto destination = make_mbox_destination(mbox, dir / "spool");
  const std::string detail = deliver(*destination, "Subject: x\n\nFrom y\n");
  const std::string complete = read_file(mbox);
  ASSERT_GT(complete.size(), before.size());
  for (std::size_t cut = before.size(); cut <= complete.size(); ++cut) {
    write_file(mbox, complete.substr(0, cut));
    std::string note;
    const auto outcome = reconcile_one(detail, dir / "spool", note);
    if (cut == complete.size()) {
      EXPECT_EQ(outcome, Reconciled::delivered);
      EXPECT_EQ(read_file(mbox), complete);
    } else {
      EXPECT_EQ(outcome, Reconciled::not_delivered) << cut;
      EXPECT_EQ(read_file(mbox), before) << "cut at " << cut;
      EXPECT_TRUE(note.empty()) << note;
    }
  }
}

TEST(MboxReconcile, ForeignBytesAfterOurOffsetAreNeverCut) {
  TempDir dir;
  const fs::path mbox = dir / "inbox";
  auto destination = make_mbox_destination(mbox, dir / "spool");
  const std::string detail = deliver(*destination, "Subject: x\n\nbody\n");
  const std::string complete = read_file(mbox);
  // Our append died half-way, then another program appended its own message.
  const std::string mixed = complete.substr(0, 20) + "From other\n\nnot ours\n\n";
  write_file(mbox, mixed);
  std::string note;
  EXPECT_EQ(reconcile_one(detail, dir / "spool", note), Reconciled::not_delivered);
  EXPECT_EQ(read_file(mbox), mixed);
  EXPECT_NE(note.find("left as they are"), std::string::npos) << note;
}

TEST(MboxReconcile, CompleteAppendFollowedByOthersIsDelivered) {
  TempDir dir;
  const fs::path mbox = dir / "inbox";
  auto destination = make_mbox_destination(mbox, dir / "spool");
  const std::string detail = deliver(*destination, "Subject: x\n\nbody\n");
  write_file(mbox, read_file(mbox) + "From other\n\nlater\n\n");
  std::string note;
  EXPECT_EQ(reconcile_one(detail, dir / "spool", note), Reconciled::delivered);
}

TEST(MboxReconcile, MissingOrShrunkMbox) {
  TempDir dir;
  const fs::path mbox = dir / "inbox";
  write_file(mbox, "From a Thu Jan  1 00:00:00 1970\n\nold\n\n");
  auto destination = make_mbox_destination(mbox, dir / "spool");
  const std::string detail = deliver(*destination, "Subject: x\n\nbody\n");
  std::string note;
  write_file(mbox, "");
  EXPECT_EQ(reconcile_one(detail, dir / "spool", note), Reconciled::not_delivered);
  EXPECT_NE(note.find("shorter"), std::string::npos);
  fs::remove(mbox);
  EXPECT_EQ(reconcile_one(detail, dir / "spool", note), Reconciled::not_delivered);
}

TEST(MboxLock, StaleDotlockOfADeadProcessIsTakenOver) {
  TempDir dir;
  const fs::path mbox = dir / "inbox";
  write_file(mbox, "");
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  // A pid that cannot exist (above pid_max) left a dotlock behind.
  write_file(dir / "inbox.lock", fmt::format("99999999 {}\n", host));
  const int fd = ::open(mbox.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  {
    MboxLock lock(fd, mbox, 5);
    EXPECT_TRUE(fs::exists(dir / "inbox.lock"));
  }
  EXPECT_FALSE(fs::exists(dir / "inbox.lock"));
  ::close(fd);
}

TEST(MboxLock, LiveDotlockMakesUsWaitThenGiveUpAsTemporary) {
  TempDir dir;
  const fs::path mbox = dir / "inbox";
  write_file(mbox, "");
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  write_file(dir / "inbox.lock", fmt::format("{} {}\n", ::getpid(), host));
  const int fd = ::open(mbox.c_str(), O_RDWR);
  try {
    MboxLock lock(fd, mbox, 1);
    ADD_FAILURE() << "locked twice";
  } catch (const FetchError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::temporary);
  }
  EXPECT_TRUE(fs::exists(dir / "inbox.lock"));
  ::close(fd);
}

}  // namespace
}  // namespace postern::fetch
