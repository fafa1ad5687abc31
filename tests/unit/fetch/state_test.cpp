// The uidls file and the journal: formats, atomic rewrite, a torn last record, replay.
#include "fetch/state.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "fetch/error.hpp"
#include "support/temp_dir.hpp"

namespace postern::fetch {
namespace {

using postern::test_support::read_file;
using postern::test_support::TempDir;
using postern::test_support::write_file;

TEST(Uidls, RoundTripAndFormat) {
  TempDir dir;
  DeliveredMap map;
  map["b!x"] = Delivered{1700000000, false};
  map["a~y"] = Delivered{1700000500, true};
  save_uidls(dir / "uidls", map);
  EXPECT_EQ(read_file(dir / "uidls"),
            "postern-fetch-uidls 1\na~y 1700000500 headers\nb!x 1700000000 full\n");
  const auto back = load_uidls(dir / "uidls");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(back.at("a~y").headers_only);
  EXPECT_EQ(back.at("b!x").time, 1700000000);
  EXPECT_FALSE(std::filesystem::exists(dir / "uidls.tmp"));
}

TEST(Uidls, MissingFileIsEmptyButDamageIsNeverGuessedAround) {
  TempDir dir;
  EXPECT_TRUE(load_uidls(dir / "uidls").empty());
  const std::vector<std::pair<std::string, std::string>> damaged = {
      {"", "empty file"},
      {"something else\n", ":1: not a postern fetch state file"},
      {"postern-fetch-uidls 1\nabc 12 full\nabc\n", ":3: damaged line"},
      {"postern-fetch-uidls 1\nabc 12 full", "incomplete"},
      {"postern-fetch-uidls 1\nabc x full\n", ":2: damaged line"},
      {"postern-fetch-uidls 1\nabc 12 partial\n", ":2: damaged line"},
  };
  for (const auto& [text, expected] : damaged) {
    write_file(dir / "uidls", text);
    try {
      load_uidls(dir / "uidls");
      ADD_FAILURE() << text;
    } catch (const FetchError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

TEST(Uidls, RewriteReplacesTheFileWhole) {
  // A reader at any moment sees the old or the new file, never a mix: rename(2) is atomic.
  TempDir dir;
  DeliveredMap big;
  for (int i = 0; i < 2000; ++i) big["uidl-" + std::to_string(i)] = Delivered{i, false};
  DeliveredMap small;
  small["only"] = Delivered{1, false};
  save_uidls(dir / "uidls", big);
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop) {
      const auto seen = load_uidls(dir / "uidls");
      EXPECT_TRUE(seen.size() == 2000 || seen.size() == 1) << seen.size();
      ++reads;
    }
  });
  for (int i = 0; i < 20; ++i) save_uidls(dir / "uidls", i % 2 ? big : small);
  while (reads < 5) std::this_thread::yield();
  stop = true;
  reader.join();
}

TEST(Journal, RecordFormat) {
  JournalRecord intent{JournalRecord::Type::intent, "u1", false, 0,
                       "maildir NAME /path with space"};
  EXPECT_EQ(format_record(intent), "intent u1 full maildir NAME /path with space\n");
  auto back = parse_record("intent u1 full maildir NAME /path with space");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->detail, "maildir NAME /path with space");
  JournalRecord done{JournalRecord::Type::done, "u1", true, 1700000000, {}};
  EXPECT_EQ(format_record(done), "done u1 1700000000 headers\n");
  back = parse_record("done u1 1700000000 headers");
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->headers_only);
  EXPECT_EQ(back->time, 1700000000);
  EXPECT_EQ(format_record({JournalRecord::Type::abort, "u1", false, 0, {}}), "abort u1\n");
  for (const char* bad : {"intent u1 full", "done u1 x full", "abort", "abort u1 x", "hello u1",
                          "intent u1 half mda", "done  1 full"}) {
    EXPECT_FALSE(parse_record(bad)) << bad;
  }
}

TEST(Journal, AppendReadClear) {
  TempDir dir;
  {
    Journal journal(dir / "journal");
    journal.append({JournalRecord::Type::intent, "a", false, 0, "mda"});
    EXPECT_TRUE(journal.dirty());
    journal.sync();
    EXPECT_FALSE(journal.dirty());
    journal.append({JournalRecord::Type::done, "a", false, 5, {}});
  }
  auto records = Journal::read(dir / "journal");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].type, JournalRecord::Type::done);
  Journal journal(dir / "journal");
  journal.clear();
  EXPECT_TRUE(Journal::read(dir / "journal").empty());
  EXPECT_EQ(read_file(dir / "journal"), "");
}

TEST(Journal, TornLastRecordIsIgnoredAndCutOff) {
  TempDir dir;
  write_file(dir / "journal", "intent a full mda\ndone a 5 fu");
  auto records = Journal::read(dir / "journal");
  ASSERT_EQ(records.size(), 1u);
  {
    Journal journal(dir / "journal");
    journal.append({JournalRecord::Type::abort, "b", false, 0, {}});
  }
  EXPECT_EQ(read_file(dir / "journal"), "intent a full mda\nabort b\n");
}

TEST(Journal, DamagedCompleteRecordIsAnError) {
  TempDir dir;
  write_file(dir / "journal", "intent a full mda\nrubbish\n");
  try {
    Journal::read(dir / "journal");
    FAIL();
  } catch (const FetchError& e) {
    EXPECT_NE(std::string(e.what()).find("journal:2"), std::string::npos) << e.what();
  }
}

TEST(Journal, ReplayKeepsTheLastRecordPerUidl) {
  const auto state = replay({
      {JournalRecord::Type::intent, "a", false, 0, "mda"},
      {JournalRecord::Type::intent, "b", false, 0, "mda"},
      {JournalRecord::Type::done, "a", false, 7, {}},
      {JournalRecord::Type::abort, "b", false, 0, {}},
      {JournalRecord::Type::intent, "c", true, 0, "mda"},
  });
  EXPECT_EQ(state.last.at("a").type, JournalRecord::Type::done);
  EXPECT_EQ(state.last.at("b").type, JournalRecord::Type::abort);
  EXPECT_EQ(state.last.at("c").type, JournalRecord::Type::intent);
  EXPECT_TRUE(state.last.at("c").headers_only);
}

TEST(AccountLock, SecondHolderIsTurnedAwayAsTemporary) {
  TempDir dir;
  ensure_state_dir(dir / "deep" / "state");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "deep" / "state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  AccountLock first(dir / "deep" / "state");
  try {
    AccountLock second(dir / "deep" / "state");
    FAIL();
  } catch (const FetchError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::temporary);
    EXPECT_NE(std::string(e.what()).find("another postern fetch"), std::string::npos);
  }
}

}  // namespace
}  // namespace postern::fetch
