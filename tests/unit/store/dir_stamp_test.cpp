#include "store/dir_stamp.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "store/unique_fd.hpp"
#include "store_test_support.hpp"

namespace postern::store {
namespace {

TEST(DirStamp, RoundTripsThroughText) {
  const DirStamp stamp{2049, 1234567, 1700000000, 5};
  EXPECT_EQ(to_string(stamp), "2049:1234567:1700000000.000000005");
  EXPECT_EQ(parse_dir_stamp(to_string(stamp)), stamp);
}

TEST(DirStamp, RejectsMalformedText) {
  for (const char* text : {"", "-", "1:2", "1:2:3", "1:2:3.", "1:2:.4", "a:2:3.4", "1:2:3.4x",
                           "1:2:3.4 ", "-1:2:3.4", "1::3.4"})
    EXPECT_FALSE(parse_dir_stamp(text).has_value()) << text;
}

TEST(DirStamp, NanosecondStampsSettleAfterTheMargin) {
  const DirStamp stamp{1, 1, 100, 990000000};
  EXPECT_FALSE(is_settled(stamp, timespec{100, 990000000}));
  EXPECT_FALSE(is_settled(stamp, timespec{101, 40000000}));  // exactly 50 ms later
  EXPECT_TRUE(is_settled(stamp, timespec{101, 40000001}));
  EXPECT_EQ(time_to_settle(stamp, timespec{101, 0}), std::chrono::nanoseconds(40000001));
  EXPECT_EQ(time_to_settle(stamp, timespec{102, 0}), std::chrono::nanoseconds(0));
  EXPECT_FALSE(is_settled(stamp, timespec{99, 0}));  // a clock stepped back: not settled
}

TEST(DirStamp, WholeSecondStampsSettleAfterTwoSeconds) {
  const DirStamp stamp{1, 1, 100, 0};
  EXPECT_FALSE(is_settled(stamp, timespec{101, 999999999}));
  EXPECT_FALSE(is_settled(stamp, timespec{102, 0}));
  EXPECT_TRUE(is_settled(stamp, timespec{102, 1}));
}

TEST(DirStamp, ChangesWhenAnEntryIsAdded) {
  const test_support::TempDir tmp;
  const UniqueFd fd(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const auto before = read_dir_stamp(fd.get());
  ASSERT_TRUE(before.has_value());
  // ctime ticks coarsely: wait for the clock to move past it before changing the directory.
  timespec now{};
  do ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  while (now.tv_sec == before->ctime_sec && now.tv_nsec == before->ctime_nsec);
  test_support::write_file(tmp.path() / "x", "x");
  EXPECT_NE(read_dir_stamp(fd.get()), before);
}

}  // namespace
}  // namespace postern::store
