#include "store/uidl.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern::store {
namespace {

bool is_lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(UidlForUniqueName, KeepsNamesRfc1939Allows) {
  const std::string kept[] = {"1700000000.M123P45Q6.mail.example.com,S=10,W=12", "x", "!~",
                              std::string(70, '~'), "a\\057b"};
  for (const std::string& name : kept) {
    EXPECT_EQ(uidl_for_unique_name(name), name);
  }
}

TEST(UidlForUniqueName, HashesNamesRfc1939Forbids) {
  const std::string hashed[] = {"with space",
                                "tab\there",
                                "caf\xc3\xa9",
                                "del\x7f",
                                std::string(71, 'a'),
                                "",
                                std::string("nul\0in", 6)};
  for (const std::string& name : hashed) {
    const std::string uidl = uidl_for_unique_name(name);
    EXPECT_EQ(uidl.size(), 64U) << name;
    EXPECT_TRUE(is_lower_hex(uidl)) << uidl;
  }
}

TEST(UidlForUniqueName, HashIsBlake2b256) {
  EXPECT_EQ(uidl_for_unique_name(""),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(uidl_for_unique_name("hello world"),
            "256c83b297114d201b30179f3f0ef0cace9783622da5974326b436178aeef610");
}

TEST(UidlForUniqueName, DeterministicAndDistinct) {
  const std::string long_a(100, 'a');
  std::string long_b = long_a;
  long_b.back() = 'b';
  EXPECT_EQ(uidl_for_unique_name(long_a), uidl_for_unique_name(long_a));
  EXPECT_NE(uidl_for_unique_name(long_a), uidl_for_unique_name(long_b));
}

}  // namespace
}  // namespace postern::store
