#include "auth/passwd_file_editor.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "auth/passwd_file.hpp"
#include "temp_dir.hpp"

namespace postern::auth {
namespace {

using namespace std::string_literals;
using testing_support::file_mode;
using testing_support::read_file;
using testing_support::TempDir;
using testing_support::write_file;

const char* const sample =
    "# postern users\n"
    "alice:{PLAIN}old:1000:1001:Alice A:/home/alice:/bin/false:userdb_mail=maildir:~/M quota=1G\n"
    "bad name:{PLAIN}kept\n"
    "carol\n"
    "bob:{PLAIN}b\n";

class PasswdFileEditorTest : public testing::Test {
 protected:
  void SetUp() override { write_file(file_, sample); }

  // What a person sees: the message must name the file and the user.
  template <typename Edit>
  std::string error_of(Edit edit) {
    try {
      edit();
    } catch (const PasswdFileError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no PasswdFileError";
    return {};
  }

  bool only_the_file_is_left() const {
    return std::distance(std::filesystem::directory_iterator(dir_.path()),
                         std::filesystem::directory_iterator()) == 1;
  }

  TempDir dir_;
  std::filesystem::path file_ = dir_ / "users";
};

TEST_F(PasswdFileEditorTest, AddCreatesANewPrivateFile) {
  const auto fresh = dir_ / "new-users";
  add_user(fresh, "alice", "{PLAIN}pw");
  EXPECT_EQ(read_file(fresh), "alice:{PLAIN}pw\n");
  EXPECT_EQ(file_mode(fresh), 0600U);
  PasswdFile passdb(fresh, std::chrono::milliseconds(0));
  EXPECT_EQ(passdb.verify("alice", "pw").status, AuthStatus::ok);
}

TEST_F(PasswdFileEditorTest, AddAppendsAndKeepsEverythingElse) {
  add_user(file_, "dave", "{PLAIN}d");
  EXPECT_EQ(read_file(file_), sample + "dave:{PLAIN}d\n"s);
  EXPECT_TRUE(only_the_file_is_left());
}

TEST_F(PasswdFileEditorTest, AddEndsAnUnterminatedLastLine) {
  write_file(file_, "alice:{PLAIN}a");
  add_user(file_, "bob", "{PLAIN}b");
  EXPECT_EQ(read_file(file_), "alice:{PLAIN}a\nbob:{PLAIN}b\n");
}

TEST_F(PasswdFileEditorTest, AddRefusesAnExistingUser) {
  const auto message = error_of([&] { add_user(file_, "alice", "{PLAIN}x"); });
  EXPECT_EQ(message, "user alice already exists in " + file_.string());
  EXPECT_EQ(read_file(file_), sample);
}

TEST_F(PasswdFileEditorTest, AddRefusesInvalidNames) {
  for (const auto& name : {""s, "a b"s, "a:b"s, "../etc"s, "a/b"s, "x\0y"s, "a\nb"s, "#alice"s,
                           std::string(256, 'a')}) {
    EXPECT_THROW(add_user(file_, name, "{PLAIN}x"), PasswdFileError) << name;
  }
  EXPECT_EQ(read_file(file_), sample);
}

TEST_F(PasswdFileEditorTest, RefusesAStoredPasswordThatWouldBreakTheFile) {
  for (const auto& stored :
       {"{PLAIN}a:b"s, "{PLAIN}a\nroot::0:0"s, "{PLAIN}a\rb"s, "{PLAIN}a\0"s}) {
    EXPECT_THROW(add_user(file_, "dave", stored), PasswdFileError);
    EXPECT_THROW(set_password(file_, "alice", stored), PasswdFileError);
  }
  EXPECT_EQ(read_file(file_), sample);
}

TEST_F(PasswdFileEditorTest, SetPasswordKeepsTheOtherFields) {
  set_password(file_, "alice", "{CRYPT}$y$j9T$salt$hash");
  EXPECT_EQ(read_file(file_),
            "# postern users\n"
            "alice:{CRYPT}$y$j9T$salt$hash:1000:1001:Alice A:/home/alice:/bin/false:"
            "userdb_mail=maildir:~/M quota=1G\n"
            "bad name:{PLAIN}kept\n"
            "carol\n"
            "bob:{PLAIN}b\n");
  const auto record = PasswdFile(file_, std::chrono::milliseconds(0)).lookup("alice");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->uid, "1000");
  EXPECT_EQ(record->gid, "1001");
  EXPECT_EQ(record->home, "/home/alice");
  EXPECT_EQ(record->extra, (std::vector<std::string>{"userdb_mail=maildir:~/M", "quota=1G"}));
}

TEST_F(PasswdFileEditorTest, SetPasswordOnLinesWithFewFields) {
  set_password(file_, "carol", "{PLAIN}c");
  set_password(file_, "bob", "{PLAIN}b2");
  EXPECT_EQ(read_file(file_),
            "# postern users\n"
            "alice:{PLAIN}old:1000:1001:Alice A:/home/alice:/bin/false:userdb_mail=maildir:~/M "
            "quota=1G\n"
            "bad name:{PLAIN}kept\n"
            "carol:{PLAIN}c\n"
            "bob:{PLAIN}b2\n");
}

TEST_F(PasswdFileEditorTest, SetPasswordKeepsACarriageReturn) {
  write_file(file_, "alice:{PLAIN}a\r\nbob:{PLAIN}b:1:2\r\n");
  set_password(file_, "alice", "{PLAIN}x");
  set_password(file_, "bob", "{PLAIN}y");
  EXPECT_EQ(read_file(file_), "alice:{PLAIN}x\r\nbob:{PLAIN}y:1:2\r\n");
}

TEST_F(PasswdFileEditorTest, SetPasswordOfAnUnknownUser) {
  EXPECT_EQ(error_of([&] { set_password(file_, "mallory", "{PLAIN}x"); }),
            "user mallory not found in " + file_.string());
}

TEST_F(PasswdFileEditorTest, EditsKeepTheFileMode) {
  std::filesystem::permissions(file_, std::filesystem::perms(0640));
  set_password(file_, "alice", "{PLAIN}new");
  EXPECT_EQ(file_mode(file_), 0640U);
  add_user(file_, "dave", "{PLAIN}d");
  EXPECT_EQ(file_mode(file_), 0640U);
  remove_user(file_, "dave");
  EXPECT_EQ(file_mode(file_), 0640U);
}

TEST_F(PasswdFileEditorTest, RemoveDropsOnlyThatUser) {
  remove_user(file_, "alice");
  EXPECT_EQ(read_file(file_), "# postern users\nbad name:{PLAIN}kept\ncarol\nbob:{PLAIN}b\n");
  EXPECT_TRUE(only_the_file_is_left());
}

TEST_F(PasswdFileEditorTest, RemoveDropsEveryLineOfTheUser) {
  write_file(file_, "alice:{PLAIN}a\nbob:{PLAIN}b\nalice:{PLAIN}again\n");
  remove_user(file_, "alice");
  EXPECT_EQ(read_file(file_), "bob:{PLAIN}b\n");
}

TEST_F(PasswdFileEditorTest, RemoveOfAnUnknownUser) {
  EXPECT_EQ(error_of([&] { remove_user(file_, "mallory"); }),
            "user mallory not found in " + file_.string());
  EXPECT_EQ(read_file(file_), sample);
}

TEST_F(PasswdFileEditorTest, EditsOfAMissingFileNameIt) {
  const auto missing = dir_ / "missing";
  for (const auto& message : {error_of([&] { remove_user(missing, "alice"); }),
                              error_of([&] { set_password(missing, "alice", "{PLAIN}x"); }),
                              error_of([&] { list_users(missing); })}) {
    EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  }
  EXPECT_FALSE(std::filesystem::exists(missing));
}

TEST_F(PasswdFileEditorTest, ListGivesUsersInFileOrder) {
  EXPECT_EQ(list_users(file_), (std::vector<std::string>{"alice", "carol", "bob"}));
}

TEST_F(PasswdFileEditorTest, ListOfAnEmptyFile) {
  write_file(file_, "");
  EXPECT_TRUE(list_users(file_).empty());
}

TEST_F(PasswdFileEditorTest, EditsTheTargetOfASymlink) {
  const auto link = dir_ / "users-link";
  std::filesystem::create_symlink(file_, link);
  add_user(link, "dave", "{PLAIN}d");
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(read_file(file_), sample + "dave:{PLAIN}d\n"s);
}

TEST_F(PasswdFileEditorTest, ReplacesAStaleTemporaryFile) {
  auto stale = file_;
  stale += ".tmp." + std::to_string(::getpid());
  write_file(stale, "garbage");
  add_user(file_, "dave", "{PLAIN}d");
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_EQ(read_file(file_), sample + "dave:{PLAIN}d\n"s);
}

TEST_F(PasswdFileEditorTest, FailsCleanlyWhenTheDirectoryIsMissing) {
  const auto nowhere = dir_ / "no-dir" / "users";
  const auto message = error_of([&] { add_user(nowhere, "alice", "{PLAIN}x"); });
  EXPECT_NE(message.find(nowhere.string()), std::string::npos) << message;
}

TEST_F(PasswdFileEditorTest, ConcurrentAddsLoseNoUser) {
  std::vector<std::thread> editors;
  for (int t = 0; t < 4; ++t) {
    editors.emplace_back([this, t] {
      for (int i = 0; i < 10; ++i) {
        add_user(file_, fmt::format("user{}-{}", t, i), "{PLAIN}x");
      }
    });
  }
  for (auto& editor : editors) editor.join();
  EXPECT_EQ(list_users(file_).size(), 3U + 40U);
  EXPECT_TRUE(only_the_file_is_left());
}

}  // namespace
}  // namespace postern::auth
