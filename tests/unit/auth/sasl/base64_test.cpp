#include "auth/sasl/base64.hpp"

#include <gtest/gtest.h>

#include <string>

namespace postern::auth::sasl {
namespace {

struct Vector {
  std::string plain;
  std::string encoded;
};

// RFC 4648 section 10.
const Vector rfc4648[] = {{"", ""},
                          {"f", "Zg=="},
                          {"fo", "Zm8="},
                          {"foo", "Zm9v"},
                          {"foob", "Zm9vYg=="},
                          {"fooba", "Zm9vYmE="},
                          {"foobar", "Zm9vYmFy"}};

TEST(SaslBase64, EncodesRfc4648Vectors) {
  for (const auto& v : rfc4648) EXPECT_EQ(encode_base64(v.plain), v.encoded) << v.plain;
}

TEST(SaslBase64, DecodesRfc4648Vectors) {
  for (const auto& v : rfc4648) EXPECT_EQ(decode_base64(v.encoded), v.plain) << v.encoded;
}

TEST(SaslBase64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 7) {
    const auto part = all.substr(0, n);
    EXPECT_EQ(decode_base64(encode_base64(part)), part);
  }
}

TEST(SaslBase64, RefusesMalformedInput) {
  const char* bad[] = {"Zg",   "Zg=",  "Z===",     "====", "Zm9v\n", "Zm 9v", "Zm9v=",
                       "Zh==", "Zm9=", "Zg==Zg==", "Zm-v", "Zm_v",   "=Zm9"};
  for (const char* text : bad) EXPECT_FALSE(decode_base64(text).has_value()) << text;
  EXPECT_FALSE(decode_base64(std::string("Zm\0v", 4)).has_value());
}

TEST(SaslBase64Url, DecodesUnpaddedUrlAlphabet) {
  EXPECT_EQ(decode_base64url("Zm9vYmE"), "fooba");
  EXPECT_EQ(decode_base64url("-_8"), std::string("\xfb\xff", 2));
  EXPECT_EQ(decode_base64url(""), "");
}

TEST(SaslBase64Url, RefusesPaddingAndStandardAlphabet) {
  const char* bad[] = {"Zm9vYmE=", "+/8", "Z", "Zm9vY", "Zh", "a.b"};
  for (const char* text : bad) EXPECT_FALSE(decode_base64url(text).has_value()) << text;
}

}  // namespace
}  // namespace postern::auth::sasl
