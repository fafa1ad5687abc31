#include "auth/username.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern::auth {
namespace {

using namespace std::string_literals;

struct NameCase {
  std::string name;
  bool valid;
};

class UsernameTest : public testing::TestWithParam<NameCase> {};

TEST_P(UsernameTest, ClassifiesName) {
  EXPECT_EQ(is_valid_username(GetParam().name), GetParam().valid) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, UsernameTest,
    testing::Values(NameCase{"alice", true}, NameCase{"alice@example.org", true},
                    NameCase{"a.b-c_d+e", true}, NameCase{"Grüße", true}, NameCase{".alice", true},
                    NameCase{"#alice", true}, NameCase{std::string(255, 'a'), true},
                    NameCase{"", false}, NameCase{std::string(256, 'a'), false},
                    NameCase{"a/b", false}, NameCase{"/", false}, NameCase{"..", false},
                    NameCase{"a..b", false}, NameCase{"al\0ice"s, false},
                    NameCase{"al\tice", false}, NameCase{"al\nice", false},
                    NameCase{"al\rice", false}, NameCase{"al\x1fice", false},
                    NameCase{"al\x7fice", false}, NameCase{"a:b", false}, NameCase{"a b", false},
                    NameCase{" alice", false}));

}  // namespace
}  // namespace postern::auth
