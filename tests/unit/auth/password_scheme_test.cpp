#include "auth/password_scheme.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace postern::auth {
namespace {

using namespace std::string_literals;

// Vectors made with tools independent of this code: openssl passwd (-1/-5/-6), htpasswd -B
// (bcrypt $2y$), mkpasswd (bcrypt $2b$, yescrypt), Python's crypt module (DES, SHA-256) and the
// reference argon2 CLI (argon2i, argon2id).
struct Vector {
  std::string stored;
  std::string password;
};

const Vector vectors[] = {
    {"{PLAIN}secret", "secret"},
    {"{CLEAR}secret", "secret"},
    {"{CLEARTEXT}secret", "secret"},
    {"{PLAIN}p a:s s", "p a:s s"},
    {"{PLAIN} lead and trail ", " lead and trail "},
    {"{PLAIN}{braces}}", "{braces}}"},
    {"{plain}secret", "secret"},
    {"{Cleartext}secret", "secret"},
    {"{SHA512-CRYPT}$6$saltsalt$"
     "TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77"
     "vwPZN.Pq.H91p5hVO1",
     "secret"},
    {"{sha512-crypt}$6$saltsalt$"
     "TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77"
     "vwPZN.Pq.H91p5hVO1",
     "secret"},
    {"$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p"
     "5hVO1",
     "secret"},
    {"{SHA512-CRYPT}$6$rounds=10000$pepperpot$R2YdcENLQLqYA49nxz6pUvxRdeZj6eBX2OVO0ACp.Rj4ZuuubtwGk"
     "W87/3SYq5lQAVxEU6NOTBOnJR04NuA2u0",
     "correct horse"},
    {"{SHA512-CRYPT}$6$colonsalt$lBBEpAKuwRtpk5t.81BY0wwh7lr8cPI7Uaoh3Lb5q/kJO2cURkpJtfvS2Xo0HWfAZZ"
     "eCc0zJRnJa3od2v/xcL1",
     "p a:s s"},
    {"{SHA256-CRYPT}$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA", "secret"},
    {"$5$umlautsalt$2w526vR9NmIhDAkvtxE9dGBNgUjx.E.jshO6DsxzIC/", "Grüße, Welt!"},
    {"{MD5-CRYPT}$1$saltsalt$9xy1btjgzLYfb7hivXtC//", "secret"},
    {"{BLF-CRYPT}$2y$05$cTaBmPtcl06TfLXaaOP4JuiIzwbth4aJKQ6tJlQiHBU3GZmTsSsNi", "secret"},
    {"{Blf-Crypt}$2y$04$cTR5XwY8RVvDJg8m7lEqWeeAzcJrQDtTjYBMCPdsqhV2zJocpxXSW", "p a:s s"},
    {"$2b$05$bJw.cIG3bptaDWkX3ogEOOx/V.imZceJ6cnTPRkS3V0qm/Ui5vdLq", "secret"},
    {"{CRYPT}$y$j9T$2gXuTUiFmp3dXvJ7JQWN3/$cVs/nWelpKDV/gN6tE47uxr3KkxFP3FuqRckV9uJ2bB", "secret"},
    {"$y$j9T$ZtOL/mYdvIQkPSQ/69SsH1$UwkzNdSEVnESg0DOHmzZJmafnHSfzrHunfLh9I3nmn0", "p a:s s"},
    {"{CRYPT}abNANd1rDfiNc", "secret"},
    {"{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxMjM0$3lx1jJZE9n0bIVf97mF5mzEtPBljJsvLA1a"
     "sYbxlqOQ",
     "secret"},
    {"{argon2id}$argon2id$v=19$m=65536,t=2,p=1$c2FsdHlzYWx0eXNhbHQxNg$RymaP2t/vd7m8LDI95q4KygA7zzT"
     "qKLjbGoQZuhNRCA",
     "secret"},
    {"{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxMjM0$AWsKvRWmAKp7seLIb0fKbrg0UO0ka6iprFc"
     "ca22Dh7E",
     "p a:s s"},
    {"{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=4$c29tZXNhbHQxMjM0$tW0ITXgbgmqufxQ1FuS0ZVPoVZ4xjbDaOE+"
     "bEyycBFY",
     "secret"},
    {"$argon2id$v=19$m=1024,t=2,p=1$dW1sYXV0c2FsdDE2$FZCeFjoiAPPDqWEgyFXWZUTMUPltMA2+5FgbtDV9Q1E",
     "Grüße, Welt!"},
    {"{ARGON2I}$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHQxMjM0$gvTbCzqzj+L8VV27oMzkOTuPak3n4WRCb69oak"
     "sWVzg",
     "secret"},
    {"$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHQxMjM0$gvTbCzqzj+L8VV27oMzkOTuPak3n4WRCb69oaksWVzg",
     "secret"},
};

class KnownVectorTest : public testing::TestWithParam<Vector> {};

TEST_P(KnownVectorTest, AcceptsTheRightPassword) {
  EXPECT_TRUE(verify_password(GetParam().stored, GetParam().password));
}

TEST_P(KnownVectorTest, RejectsWrongPasswords) {
  const auto& right = GetParam().password;
  EXPECT_FALSE(verify_password(GetParam().stored, right + "x"));
  EXPECT_FALSE(verify_password(GetParam().stored, right.substr(1)));
  EXPECT_FALSE(verify_password(GetParam().stored, "wrong"));
  EXPECT_FALSE(verify_password(GetParam().stored, ""));
}

// crypt(3) would stop at the NUL and see the right password; the check must not.
TEST_P(KnownVectorTest, RejectsTheRightPasswordWithATrailingNul) {
  EXPECT_FALSE(verify_password(GetParam().stored, GetParam().password + "\0extra"s));
}

TEST_P(KnownVectorTest, SchemeIsSupported) {
  EXPECT_TRUE(is_supported_scheme(GetParam().stored));
}

INSTANTIATE_TEST_SUITE_P(Vectors, KnownVectorTest, testing::ValuesIn(vectors));

TEST(VerifyPassword, PlainComparesEmbeddedNulsExactly) {
  EXPECT_TRUE(verify_password("{PLAIN}a\0b"s, "a\0b"s));
  EXPECT_FALSE(verify_password("{PLAIN}a\0b"s, "a"));
  EXPECT_FALSE(verify_password("{PLAIN}a"s, "a\0b"s));
}

TEST(VerifyPassword, NeverAcceptsAnEmptyPassword) {
  EXPECT_FALSE(verify_password("{PLAIN}", ""));
  EXPECT_FALSE(verify_password("{PLAIN}", "x"));
}

TEST(VerifyPassword, SchemeAndHashMustAgreeForArgon2) {
  EXPECT_FALSE(
      verify_password("{ARGON2I}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxMjM0$3lx1jJZE9n0bI"
                      "Vf97mF5mzEtPBljJsvLA1asYbxlqOQ",
                      "secret"));
  EXPECT_FALSE(
      verify_password("{ARGON2ID}$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHQxMjM0$gvTbCzqzj+L8V"
                      "V27oMzkOTuPak3n4WRCb69oaksWVzg",
                      "secret"));
  EXPECT_FALSE(
      verify_password("{CRYPT}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxMjM0$3lx1jJZE9n0bIVf"
                      "97mF5mzEtPBljJsvLA1asYbxlqOQ",
                      "secret"));
}

const std::string garbage[] = {
    "",
    "{",
    "}",
    "{}",
    "{}secret",
    "{PLAIN",
    "{PLAINsecret",
    "{UNKNOWN}secret",
    "{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ=",
    "{PLAIN.B64}c2VjcmV0",
    "{SHA512-CRYPT}",
    "{CRYPT}",
    "$6$",
    "$6$saltsalt$",
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p",
    "$2y$",
    "$2y$99$cTaBmPtcl06TfLXaaOP4JuiIzwbth4aJKQ6tJlQiHBU3GZmTsSsNi",
    "$y$",
    "$y$j9T$",
    "$1$",
    "*",
    "!",
    "!$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq."
    "H91p5h"
    "VO1",
    "{ARGON2ID}",
    "{ARGON2ID}$argon2id$",
    "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$$",
    "{ARGON2ID}$argon2id$v=19$m=0,t=0,p=0$c29tZXNhbHQxMjM0$"
    "3lx1jJZE9n0bIVf97mF5mzEtPBljJsvLA1asYbxlqOQ",
    "{ARGON2I}$argon2i$v=19$m=4096,t=3,p=1$!!!$gvTbCzqzj",
    "$argon2id$",
    "{SHA512-CRYPT}$6$salt\0salt$x"s,
    "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQxMjM0$3lx1jJZE9n0bIVf97mF5mzEtPBl\0"s,
    std::string(1 << 20, 'a'),
    "$6$" + std::string(1 << 20, 's'),
    "$6$rounds=999999999999999999999$salt$hash",
    "{" + std::string(1 << 20, 'P'),
    "{" + std::string(1 << 20, 'P') + "}secret",
    "{ARGON2ID}$argon2id$v=19$m=4096,t=3,p=1$" + std::string(1 << 16, 'c') + "$x",
    std::string(256, '\xff'),
};

class GarbageTest : public testing::TestWithParam<std::string> {};

TEST_P(GarbageTest, NeverMatchesAndNeverThrows) {
  EXPECT_FALSE(verify_password(GetParam(), "secret"));
  EXPECT_FALSE(verify_password(GetParam(), ""));
  EXPECT_FALSE(verify_password(GetParam(), "\0"s));
  EXPECT_NO_THROW(static_cast<void>(is_supported_scheme(GetParam())));
}

INSTANTIATE_TEST_SUITE_P(Inputs, GarbageTest, testing::ValuesIn(garbage));

TEST(VerifyPassword, RejectsHugePasswordsQuickly) {
  const std::string huge(1 << 20, 'x');
  EXPECT_FALSE(verify_password("{PLAIN}" + huge, huge));
  EXPECT_FALSE(verify_password(
      "{SHA512-CRYPT}$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y"
      "77vwPZN.Pq.H91p5hVO1",
      huge));
}

TEST(IsSupportedScheme, RejectsUnknownAndMismatchedSchemes) {
  EXPECT_FALSE(is_supported_scheme(""));
  EXPECT_FALSE(is_supported_scheme("{"));
  EXPECT_FALSE(is_supported_scheme("{UNKNOWN}x"));
  EXPECT_FALSE(is_supported_scheme("{SHA1}5en6G6MezRroT3XKqkdPOmY/BfQ="));
  EXPECT_FALSE(is_supported_scheme("{CRYPT}"));
  EXPECT_FALSE(is_supported_scheme("{CRYPT}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$aGFzaA"));
  EXPECT_FALSE(is_supported_scheme("{ARGON2I}$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$aGFzaA"));
  EXPECT_FALSE(is_supported_scheme("{ARGON2ID}$6$saltsalt$x"));
  EXPECT_FALSE(is_supported_scheme("*"));
}

TEST(IsSupportedScheme, AcceptsAnEmptyPlainSecret) {
  EXPECT_TRUE(is_supported_scheme("{PLAIN}"));
}

class HashPasswordTest : public testing::TestWithParam<HashScheme> {};

TEST_P(HashPasswordTest, RoundTrips) {
  const auto stored = hash_password("p a:s s", GetParam());
  EXPECT_TRUE(is_supported_scheme(stored)) << stored;
  EXPECT_TRUE(verify_password(stored, "p a:s s")) << stored;
  EXPECT_FALSE(verify_password(stored, "p a:s")) << stored;
  EXPECT_EQ(stored.find_first_of(":\n"), std::string::npos) << "must fit in a passwd-file field";
}

TEST_P(HashPasswordTest, SaltsEachHash) {
  EXPECT_NE(hash_password("secret", GetParam()), hash_password("secret", GetParam()));
}

TEST_P(HashPasswordTest, RefusesAnEmptyPassword) {
  EXPECT_THROW(hash_password("", GetParam()), std::runtime_error);
}

INSTANTIATE_TEST_SUITE_P(Schemes, HashPasswordTest,
                         testing::Values(HashScheme::yescrypt, HashScheme::argon2id));

TEST(HashPassword, YescryptHasThePasswdFileForm) {
  EXPECT_TRUE(hash_password("secret", HashScheme::yescrypt).starts_with("{CRYPT}$y$"));
}

TEST(HashPassword, Argon2idHasDovecotsFormWithInteractiveLimits) {
  EXPECT_TRUE(hash_password("secret", HashScheme::argon2id)
                  .starts_with("{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$"));
}

TEST(HashPassword, YescryptRefusesANul) {
  EXPECT_THROW(hash_password("a\0b"s, HashScheme::yescrypt), std::runtime_error);
}

TEST(HashPassword, Argon2idKeepsANul) {
  const auto stored = hash_password("a\0b"s, HashScheme::argon2id);
  EXPECT_TRUE(verify_password(stored, "a\0b"s));
  EXPECT_FALSE(verify_password(stored, "a"));
}

}  // namespace
}  // namespace postern::auth
