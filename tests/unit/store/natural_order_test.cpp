#include "store/natural_order.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace postern::store {
namespace {

TEST(NaturalLess, OrdersPairs) {
  struct Pair {
    const char* smaller;
    const char* larger;
  };
  const Pair pairs[] = {
      {"999.x", "1000.x"},
      {"1000.x", "10000.x"},
      {"1.M5P1", "1.M12P1"},
      {"1.a", "1.b"},
      {"", "0"},
      {"abc", "abcd"},
      {"9", "a"},
      {"0100.x", "101.x"},
      {"01.x", "1.x"},         // equal by value: byte order decides
      {"1.x\x7f", "1.x\xc3"},  // bytes compare unsigned
  };
  for (const Pair& p : pairs) {
    EXPECT_TRUE(natural_less(p.smaller, p.larger)) << p.smaller << " < " << p.larger;
    EXPECT_FALSE(natural_less(p.larger, p.smaller)) << p.larger << " !< " << p.smaller;
  }
}

TEST(NaturalLess, IsIrreflexive) {
  for (const char* s : {"", "1", "abc", "1000.M1P2"}) EXPECT_FALSE(natural_less(s, s));
}

TEST(NaturalLess, SortsMaildirNamesInDeliveryOrder) {
  std::vector<std::string> names = {"1000000000.M5P1.h", "999999999.M9P1.h", "1000000000.M10P1.h",
                                    "999999999.M10P1.h"};
  std::sort(names.begin(), names.end(), natural_less);
  EXPECT_EQ(names, (std::vector<std::string>{"999999999.M9P1.h", "999999999.M10P1.h",
                                             "1000000000.M5P1.h", "1000000000.M10P1.h"}));
}

}  // namespace
}  // namespace postern::store
