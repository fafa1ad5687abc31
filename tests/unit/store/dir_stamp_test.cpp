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

TEST(DirStamp, SettledOnlyAfterAFullSecond) {
  const DirStamp stamp{1, 1, 100, 999999999};
  EXPECT_FALSE(is_settled(stamp, timespec{100, 999999999}));
  EXPECT_FALSE(is_settled(stamp, timespec{101, 999999999}));
  EXPECT_TRUE(is_settled(stamp, timespec{102, 0}));
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
