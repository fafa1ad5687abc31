// Maildir delivery with the name fixed in advance, and reconciliation of an interrupted one at
// every point: nothing written, only in tmp/, renamed into new/, moved to cur/ by a reader.
#include "fetch/maildir_destination.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "fetch/destination.hpp"
#include "reconcile_one.hpp"
#include "support/temp_dir.hpp"

namespace postern::fetch {
namespace {

using testing::reconcile_one;

namespace fs = std::filesystem;
using postern::test_support::read_file;
using postern::test_support::TempDir;
using postern::test_support::write_file;

std::string name_of(const std::string& detail) {
  return detail.substr(8, detail.find(' ', 8) - 8);
}

std::size_t files_in(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(MaildirDestination, DeliversUnderThePlannedName) {
  TempDir dir;
  auto destination = make_maildir_destination(dir / "Mail");
  for (const char* sub : {"tmp", "new", "cur"}) EXPECT_TRUE(fs::is_directory(dir / "Mail" / sub));
  const std::string plan = destination->plan();
  ASSERT_TRUE(plan.starts_with("maildir ")) << plan;
  EXPECT_TRUE(plan.ends_with(" " + (dir / "Mail").string()));
  auto delivery = destination->begin(plan);
  delivery->write("Subject: hi\n\n");
  delivery->write("body\n");
  const std::string name = name_of(plan);
  EXPECT_TRUE(fs::exists(dir / "Mail" / "tmp" / name));
  EXPECT_FALSE(fs::exists(dir / "Mail" / "new" / name));
  delivery->commit([](const std::string&) { ADD_FAILURE() << "Maildir plans ahead"; });
  destination->sync();
  EXPECT_EQ(read_file(dir / "Mail" / "new" / name), "Subject: hi\n\nbody\n");
  EXPECT_EQ(files_in(dir / "Mail" / "tmp"), 0u);
}

TEST(MaildirDestination, AbortLeavesNothing) {
  TempDir dir;
  auto destination = make_maildir_destination(dir / "Mail");
  {
    auto delivery = destination->begin(destination->plan());
    delivery->write("partial");
    delivery->abort();
  }
  {
    auto delivery = destination->begin(destination->plan());
    delivery->write("dropped without abort");
  }
  EXPECT_EQ(files_in(dir / "Mail" / "tmp"), 0u);
  EXPECT_EQ(files_in(dir / "Mail" / "new"), 0u);
}

TEST(MaildirDestination, NamesAreUnique) {
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(names.insert(make_maildir_name()).second);
  EXPECT_EQ(make_maildir_name().find('/'), std::string::npos);
}

TEST(MaildirReconcile, EveryStageOfAnInterruptedDelivery) {
  TempDir dir;
  const fs::path md = dir / "Mail";
  auto destination = make_maildir_destination(md);
  std::string note;

  // Crashed before a byte was written.
  const std::string nothing = destination->plan();
  EXPECT_EQ(reconcile_one(nothing, dir / "spool", note), Reconciled::not_delivered);

  // Crashed while writing tmp/: the partial copy goes.
  const std::string in_tmp = destination->plan();
  write_file(md / "tmp" / name_of(in_tmp), "half a mess");
  EXPECT_EQ(reconcile_one(in_tmp, dir / "spool", note), Reconciled::not_delivered);
  EXPECT_FALSE(fs::exists(md / "tmp" / name_of(in_tmp)));

  // Crashed after the rename into new/.
  const std::string in_new = destination->plan();
  write_file(md / "new" / name_of(in_new), "whole");
  EXPECT_EQ(reconcile_one(in_new, dir / "spool", note), Reconciled::delivered);

  // A mail reader moved it to cur/ and marked it seen before the next run.
  const std::string in_cur = destination->plan();
  write_file(md / "cur" / (name_of(in_cur) + ":2,S"), "whole");
  EXPECT_EQ(reconcile_one(in_cur, dir / "spool", note), Reconciled::delivered);

  // A name that merely starts like ours is not ours.
  const std::string lookalike = destination->plan();
  write_file(md / "cur" / (name_of(lookalike) + "0:2,S"), "other");
  EXPECT_EQ(reconcile_one(lookalike, dir / "spool", note), Reconciled::not_delivered);
  EXPECT_TRUE(note.empty());
}

TEST(MaildirReconcile, ManyIntentsAtOnce) {
  TempDir dir;
  const fs::path md = dir / "Mail";
  auto destination = make_maildir_destination(md);
  std::vector<std::string> details;
  for (int i = 0; i < 6; ++i) details.push_back(destination->plan());
  write_file(md / "new" / name_of(details[1]), "1");
  write_file(md / "cur" / (name_of(details[3]) + ":2,S"), "3");
  write_file(md / "tmp" / name_of(details[4]), "partial");
  std::vector<std::string> notes;
  const auto settled = reconcile_intents(details, dir / "spool", notes);
  EXPECT_EQ(settled,
            (std::vector<Reconciled>{Reconciled::not_delivered, Reconciled::delivered,
                                     Reconciled::not_delivered, Reconciled::delivered,
                                     Reconciled::not_delivered, Reconciled::not_delivered}));
  EXPECT_FALSE(fs::exists(md / "tmp" / name_of(details[4])));
  EXPECT_EQ(notes.size(), 6u);
}

TEST(MaildirReconcile, DamagedDetailIsAnError) {
  std::string note;
  EXPECT_ANY_THROW(reconcile_one("maildir", "/x", note));
  EXPECT_ANY_THROW(reconcile_one("maildir ../x /tmp", "/x", note));
  EXPECT_ANY_THROW(reconcile_one("carrier-pigeon", "/x", note));
}

}  // namespace
}  // namespace postern::fetch
