#include "auth/passwd_file.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

namespace postern::auth {
namespace {

using namespace std::string_literals;
using namespace std::chrono_literals;
using testing_support::replace_file;
using testing_support::TempDir;
using testing_support::write_file;

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

TEST(ParsePasswdLine, ReadsAllFieldsAndSplitsExtrasOnSpaces) {
  const auto record = parse_passwd_line(
      "alice:{PLAIN}pw:1000:1001:Alice A:/home/alice:/bin/sh:userdb_mail=maildir:~/Maildir  "
      "quota_rule=*:storage=1G");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->user, "alice");
  EXPECT_EQ(record->password, "{PLAIN}pw");
  EXPECT_EQ(record->uid, "1000");
  EXPECT_EQ(record->gid, "1001");
  EXPECT_EQ(record->gecos, "Alice A");
  EXPECT_EQ(record->home, "/home/alice");
  EXPECT_EQ(record->shell, "/bin/sh");
  EXPECT_EQ(record->extra,
            (std::vector<std::string>{"userdb_mail=maildir:~/Maildir", "quota_rule=*:storage=1G"}));
}

TEST(ParsePasswdLine, LeavesMissingTrailingFieldsEmpty) {
  const auto record = parse_passwd_line("bob:{PLAIN}x:1000");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->password, "{PLAIN}x");
  EXPECT_EQ(record->uid, "1000");
  EXPECT_EQ(record->gid, "");
  EXPECT_EQ(record->home, "");
  EXPECT_TRUE(record->extra.empty());
}

TEST(ParsePasswdLine, AcceptsANameAlone) {
  const auto record = parse_passwd_line("carol");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->user, "carol");
  EXPECT_EQ(record->password, "");
}

TEST(ParsePasswdLine, AcceptsAllFieldsEmpty) {
  const auto record = parse_passwd_line("dave:::::::");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->user, "dave");
  EXPECT_EQ(record->shell, "");
  EXPECT_TRUE(record->extra.empty());
}

TEST(ParsePasswdLine, StripsACarriageReturn) {
  const auto record = parse_passwd_line("alice:{PLAIN}pw\r");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->password, "{PLAIN}pw");
}

TEST(ParsePasswdLine, SkipsBlankLinesAndComments) {
  for (const auto* line :
       {"", "   ", "\t", "\r", "# comment", "#alice:{PLAIN}pw", "  # indented"}) {
    EXPECT_FALSE(parse_passwd_line(line)) << line;
  }
}

TEST(ParsePasswdLine, RefusesLinesNoLoginCouldUse) {
  for (const auto& line : {":{PLAIN}pw"s, ":"s, "a b:{PLAIN}pw"s, "../x:{PLAIN}pw"s, " alice:pw"s,
                           "a/b:pw"s, "al\0ice:pw"s, std::string(256, 'a') + ":pw"}) {
    EXPECT_THROW(parse_passwd_line(line), PasswdFileError) << line;
  }
}

class PasswdFileTest : public testing::Test {
 protected:
  void SetUp() override {
    write_file(
        file_,
        "# postern users\n"
        "alice:{PLAIN}alice-pw:1000:1000::/home/alice::userdb_quota=1G\n"
        "\n"
        "bob:{SHA512-CRYPT}$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5k"
        "nV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1\n"
        "nopass::1002:1002\n" +
            std::string(255, 'l') + ":{PLAIN}long\n");
  }

  TempDir dir_;
  std::filesystem::path file_ = dir_ / "users";
};

TEST_F(PasswdFileTest, LoadsEveryUser) {
  PasswdFile passdb(file_, 0ms);
  passdb.load();
  EXPECT_EQ(passdb.user_count(), 4U);
  EXPECT_EQ(passdb.path(), file_);
}

TEST_F(PasswdFileTest, VerifiesTheRightPassword) {
  PasswdFile passdb(file_, 0ms);
  passdb.load();
  const auto result = passdb.verify("alice", "alice-pw");
  EXPECT_EQ(result.status, AuthStatus::ok);
  ASSERT_TRUE(result.record);
  EXPECT_EQ(result.record->home, "/home/alice");
  EXPECT_EQ(result.record->extra, std::vector<std::string>{"userdb_quota=1G"});
  EXPECT_EQ(passdb.verify("bob", "secret").status, AuthStatus::ok);
  EXPECT_EQ(passdb.verify(std::string(255, 'l'), "long").status, AuthStatus::ok);
}

TEST_F(PasswdFileTest, RefusesAWrongPassword) {
  PasswdFile passdb(file_, 0ms);
  const auto result = passdb.verify("bob", "Secret");
  EXPECT_EQ(result.status, AuthStatus::bad_credentials);
  EXPECT_EQ(result.reason, "wrong password");
  EXPECT_FALSE(result.record);
}

TEST_F(PasswdFileTest, RefusesAnUnknownUser) {
  PasswdFile passdb(file_, 0ms);
  const auto result = passdb.verify("mallory", "alice-pw");
  EXPECT_EQ(result.status, AuthStatus::bad_credentials);
  EXPECT_EQ(result.reason, "unknown user");
}

TEST_F(PasswdFileTest, RefusesAUserWithoutPassword) {
  PasswdFile passdb(file_, 0ms);
  EXPECT_EQ(passdb.verify("nopass", "").reason, "no password set");
  EXPECT_EQ(passdb.verify("nopass", "anything").reason, "no password set");
  EXPECT_TRUE(passdb.lookup("nopass"));
}

TEST_F(PasswdFileTest, MatchesNamesExactly) {
  PasswdFile passdb(file_, 0ms);
  EXPECT_EQ(passdb.verify("Alice", "alice-pw").reason, "unknown user");
  EXPECT_FALSE(passdb.lookup("ALICE"));
  EXPECT_FALSE(passdb.lookup("alic"));
  ASSERT_TRUE(passdb.lookup("alice"));
  EXPECT_EQ(passdb.lookup("alice")->uid, "1000");
}

TEST_F(PasswdFileTest, RefusesInvalidNamesBeforeReadingTheFile) {
  PasswdFile never_readable(dir_ / "missing", 0ms);
  PasswdFile passdb(file_, 0ms);
  for (const auto& name : {""s, "a/b"s, "../alice"s, "a..b"s, "alice\0"s, "al\tice"s, "al\x7f"s,
                           "alice\r\n"s, "a:b"s, "a b"s, std::string(256, 'l')}) {
    for (auto* db : {&never_readable, &passdb}) {
      const auto result = db->verify(name, "alice-pw");
      EXPECT_EQ(result.status, AuthStatus::bad_credentials) << name;
      EXPECT_EQ(result.reason, "invalid user name") << name;
      EXPECT_FALSE(db->lookup(name)) << name;
    }
  }
}

TEST_F(PasswdFileTest, LoadsLazilyWithoutAnExplicitLoad) {
  PasswdFile passdb(file_, 0ms);
  EXPECT_EQ(passdb.verify("alice", "alice-pw").status, AuthStatus::ok);
}

TEST_F(PasswdFileTest, SeesAFileReplacedByRename) {
  PasswdFile passdb(file_, 0ms);
  passdb.load();
  replace_file(file_, "alice:{PLAIN}new-pw\n");
  EXPECT_EQ(passdb.verify("alice", "new-pw").status, AuthStatus::ok);
  EXPECT_EQ(passdb.verify("alice", "alice-pw").status, AuthStatus::bad_credentials);
  EXPECT_EQ(passdb.user_count(), 1U);
}

TEST_F(PasswdFileTest, SeesAFileRewrittenInPlace) {
  PasswdFile passdb(file_, 0ms);
  passdb.load();
  write_file(file_, "alice:{PLAIN}other\nerin:{PLAIN}erin-pw\n");
  EXPECT_EQ(passdb.verify("erin", "erin-pw").status, AuthStatus::ok);
  EXPECT_EQ(passdb.verify("alice", "other").status, AuthStatus::ok);
}

TEST_F(PasswdFileTest, DoesNotStatBeforeTheRecheckInterval) {
  PasswdFile passdb(file_, 1h);
  passdb.load();
  replace_file(file_, "alice:{PLAIN}new-pw\n");
  EXPECT_EQ(passdb.verify("alice", "alice-pw").status, AuthStatus::ok);
}

TEST_F(PasswdFileTest, SkipsBadLinesOnReload) {
  PasswdFile passdb(file_, 0ms);
  passdb.load();
  replace_file(file_, "alice:{PLAIN}a2\n:nameless\nbad name:x\nfrank:{PLAIN}f\nfrank:{PLAIN}dup\n");
  EXPECT_EQ(passdb.user_count(), 2U);
  EXPECT_EQ(passdb.verify("frank", "f").status, AuthStatus::ok);
  EXPECT_EQ(passdb.verify("frank", "dup").status, AuthStatus::bad_credentials);
}

TEST_F(PasswdFileTest, KeepsTheLastGoodTableWhenTheFileVanishes) {
  PasswdFile passdb(file_, 0ms);
  passdb.load();
  std::filesystem::remove(file_);
  EXPECT_EQ(passdb.verify("alice", "alice-pw").status, AuthStatus::ok);
  EXPECT_EQ(passdb.user_count(), 4U);
  write_file(file_, "alice:{PLAIN}back\n");
  EXPECT_EQ(passdb.verify("alice", "back").status, AuthStatus::ok);
}

TEST_F(PasswdFileTest, KeepsTheLastGoodTableWhenTheFileBecomesADirectory) {
  PasswdFile passdb(file_, 0ms);
  passdb.load();
  std::filesystem::remove(file_);
  std::filesystem::create_directory(file_);
  EXPECT_EQ(passdb.verify("alice", "alice-pw").status, AuthStatus::ok);
}

TEST_F(PasswdFileTest, StrictLoadNamesTheFileAndLine) {
  write_file(file_, "alice:{PLAIN}a\n# fine\nbad name:x\n");
  PasswdFile passdb(file_, 0ms);
  try {
    passdb.load();
    FAIL() << "load() accepted a bad line";
  } catch (const PasswdFileError& e) {
    EXPECT_TRUE(contains(e.what(), file_.string() + ":3:")) << e.what();
    EXPECT_TRUE(contains(e.what(), "bad name")) << e.what();
  }
}

TEST_F(PasswdFileTest, StrictLoadRefusesDuplicateUsers) {
  write_file(file_, "alice:{PLAIN}a\nalice:{PLAIN}b\n");
  PasswdFile passdb(file_, 0ms);
  try {
    passdb.load();
    FAIL() << "load() accepted a duplicate user";
  } catch (const PasswdFileError& e) {
    EXPECT_TRUE(contains(e.what(), ":2:")) << e.what();
    EXPECT_TRUE(contains(e.what(), "line 1")) << e.what();
  }
}

TEST_F(PasswdFileTest, ErrorsNeverQuoteTheLine) {
  write_file(file_, "bad name:{PLAIN}hunter2\n");
  PasswdFile passdb(file_, 0ms);
  try {
    passdb.load();
    FAIL();
  } catch (const PasswdFileError& e) {
    EXPECT_FALSE(contains(e.what(), "hunter2")) << e.what();
  }
}

TEST(PasswdFileMissing, LoadThrowsNamingThePath) {
  TempDir dir;
  PasswdFile passdb(dir / "no-such-users", 0ms);
  try {
    passdb.load();
    FAIL() << "load() of a missing file succeeded";
  } catch (const PasswdFileError& e) {
    EXPECT_TRUE(contains(e.what(), (dir / "no-such-users").string())) << e.what();
  }
}

TEST(PasswdFileMissing, VerifyIsATemporaryFailureUntilTheFileAppears) {
  TempDir dir;
  PasswdFile passdb(dir / "users", 0ms);
  const auto result = passdb.verify("alice", "pw");
  EXPECT_EQ(result.status, AuthStatus::temp_failure);
  EXPECT_TRUE(contains(result.reason, (dir / "users").string())) << result.reason;
  EXPECT_FALSE(passdb.lookup("alice"));
  EXPECT_EQ(passdb.user_count(), 0U);
  write_file(dir / "users", "alice:{PLAIN}pw\n");
  EXPECT_EQ(passdb.verify("alice", "pw").status, AuthStatus::ok);
}

TEST_F(PasswdFileTest, ServesManyThreadsWhileTheFileChanges) {
  PasswdFile passdb(file_, 0ms);
  passdb.load();
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (passdb.verify("alice", "alice-pw").status != AuthStatus::ok) ++failures;
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    replace_file(file_, "alice:{PLAIN}alice-pw\n# version " + std::to_string(i) + "\n");
  }
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace postern::auth
