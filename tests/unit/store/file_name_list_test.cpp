#include "store/file_name_list.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace postern::store {
namespace {

TEST(FileNameList, KeepsNamesUniquePartsAndCStrings) {
  FileNameList names;
  const std::uint32_t flagged = names.add("1700000000.M1P2.host:2,S");
  const std::uint32_t plain = names.add("1700000001.M1P2.host");
  for (int i = 0; i < 1000; ++i) names.add("filler" + std::to_string(i));  // the buffer moves
  EXPECT_EQ(names.size(), 1002U);
  EXPECT_EQ(names.name(flagged), "1700000000.M1P2.host:2,S");
  EXPECT_EQ(names.unique_name(flagged), "1700000000.M1P2.host");
  EXPECT_EQ(names.unique_name(plain), "1700000001.M1P2.host");
  EXPECT_STREQ(names.c_str(plain), "1700000001.M1P2.host");
}

TEST(FileNameList, RenamePointsAnEntryAtANewName) {
  FileNameList names;
  const std::uint32_t first = names.add("1.a:2,");
  const std::uint32_t second = names.add("2.b:2,");
  names.rename(first, "1.a:2,RS");
  EXPECT_EQ(names.name(first), "1.a:2,RS");
  EXPECT_STREQ(names.c_str(first), "1.a:2,RS");
  EXPECT_EQ(names.name(second), "2.b:2,");
  EXPECT_EQ(names.size(), 2U);
}

}  // namespace
}  // namespace postern::store
