// The session lock: one open maildrop per owner across threads and processes, gone with its holder.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "store/maildir.hpp"
#include "store/maildir_delivery.hpp"
#include "store_test_support.hpp"

namespace postern::store {
namespace {

using test_support::TempDir;

class MaildropLocking : public ::testing::Test {
 protected:
  std::unique_ptr<Maildrop> open(const char* user = "alice") { return store_.open({user, ""}); }

  // Exit codes of a forked child that tries to open alice's maildrop.
  static constexpr int child_opened = 0;
  static constexpr int child_saw_in_use = 10;
  static constexpr int child_failed = 20;

  int open_in_child() {
    const pid_t pid = ::fork();
    if (pid == 0) {
      int code = child_failed;
      try {
        open();
        code = child_opened;
      } catch (const StoreError& e) {
        if (e.code() == StoreErrc::in_use) code = child_saw_in_use;
      } catch (...) {
      }
      ::_exit(code);  // no gtest teardown in the child
    }
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  TempDir tmp_;
  MaildirStore store_{(tmp_.path() / "%u").string()};
};

TEST_F(MaildropLocking, SecondOpenWhileHeldIsInUse) {
  const auto first = open();
  try {
    open();
    FAIL() << "opened twice";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreErrc::in_use);
    EXPECT_STREQ(e.what(), "maildrop of alice is locked by another session");
  }
}

TEST_F(MaildropLocking, ReleasedWhenTheMaildropIsDestroyed) {
  open();
  EXPECT_NO_THROW(open());
}

TEST_F(MaildropLocking, ExcludesAnotherProcess) {
  {
    const auto held = open();
    EXPECT_EQ(open_in_child(), child_saw_in_use);
  }
  EXPECT_EQ(open_in_child(), child_opened);
}

TEST_F(MaildropLocking, OtherOwnersAreNotBlocked) {
  const auto alice = open("alice");
  EXPECT_NO_THROW(open("bob"));
}

TEST_F(MaildropLocking, ThreadsRaceForOneMaildropAndExactlyOneWins) {
  deliver_to_maildir(tmp_.path() / "alice", "x\n");
  std::atomic<int> opened{0};
  std::atomic<int> in_use{0};
  std::vector<std::unique_ptr<Maildrop>> holders(8);
  std::vector<std::thread> threads;
  threads.reserve(holders.size());
  for (auto& holder : holders) {
    threads.emplace_back([&] {
      try {
        holder = open();
        ++opened;
      } catch (const StoreError& e) {
        if (e.code() == StoreErrc::in_use) ++in_use;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(in_use, 7);
}

TEST_F(MaildropLocking, ThreadsOpenDifferentMaildropsAtOnce) {
  std::atomic<int> opened{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      const std::string user = "user" + std::to_string(i);
      for (int round = 0; round < 20; ++round) {
        deliver_to_maildir(tmp_.path() / user, "x\n");
        if (store_.open({user, ""})->messages().size() == static_cast<std::size_t>(round) + 1)
          ++opened;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(opened, 8 * 20);
}

}  // namespace
}  // namespace postern::store
