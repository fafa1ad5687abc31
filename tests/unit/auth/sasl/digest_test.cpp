#include "auth/sasl/digest.hpp"

#include <gtest/gtest.h>

#include "auth/sasl/apop.hpp"
#include "auth/sasl/stored_secret.hpp"

namespace postern::auth::sasl {
namespace {

TEST(SaslDigest, HmacMd5MatchesRfc2195Example) {
  EXPECT_EQ(to_hex(hmac_md5("tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>")),
            "b913a602c7eda7a495b4e6e7334d3890");
}

TEST(SaslDigest, Sha256AndHmacSha256KnownValues) {
  EXPECT_EQ(to_hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(SaslDigest, HexRoundTripAndRejects) {
  EXPECT_EQ(from_hex("00ffAb"), std::string("\x00\xff\xab", 3));
  EXPECT_FALSE(from_hex("abc").has_value());
  EXPECT_FALSE(from_hex("zz").has_value());
  EXPECT_EQ(to_hex(std::string("\x00\xff", 2)), "00ff");
}

TEST(SaslDigest, ConstantTimeEquality) {
  EXPECT_TRUE(equal_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_constant_time("abc", "abcd"));
  EXPECT_TRUE(equal_constant_time("", ""));
}

TEST(SaslApop, MatchesRfc1939Example) {
  const auto banner = "<1896.697170952@dbc.mtview.ca.us>";
  EXPECT_EQ(verify_apop(banner, "c4c9334bac560ecc979e58001b3e22fb", "{PLAIN}tanstaaf"), true);
  EXPECT_EQ(verify_apop(banner, "C4C9334BAC560ECC979E58001B3E22FB", "{clear}tanstaaf"), true);
  EXPECT_EQ(verify_apop(banner, "c4c9334bac560ecc979e58001b3e22fc", "{PLAIN}tanstaaf"), false);
  EXPECT_EQ(verify_apop(banner, "c4c9334bac560ecc979e58001b3e22fb", "{PLAIN}tanstaafl"), false);
}

TEST(SaslApop, RefusesMalformedDigests) {
  for (const char* digest : {"", "c4c9", "zz", "c4c9334bac560ecc979e58001b3e22fb00",
                             "c4c9334bac560ecc979e58001b3e22f"}) {
    EXPECT_EQ(verify_apop("<1@x>", digest, "{PLAIN}x"), false) << digest;
  }
}

TEST(SaslApop, NulloptWithoutPlaintextSecret) {
  for (const char* stored :
       {"", "{PLAIN}", "$6$salt$hash", "{CRYPT}$y$j9T$abc", "{SHA256}x", "{PLAIN"}) {
    EXPECT_EQ(verify_apop("<1@x>", "c4c9334bac560ecc979e58001b3e22fb", stored), std::nullopt)
        << stored;
  }
}

TEST(SaslStoredSecret, PlaintextSchemes) {
  EXPECT_EQ(plaintext_secret("{PLAIN}pw"), "pw");
  EXPECT_EQ(plaintext_secret("{Clear}p:w}"), "p:w}");
  EXPECT_EQ(plaintext_secret("{CLEARTEXT}pw"), "pw");
  EXPECT_EQ(plaintext_secret("{PLAINX}pw"), std::nullopt);
  EXPECT_EQ(plaintext_secret("pw"), std::nullopt);
}

TEST(SaslStoredSecret, DovecotScramSha256) {
  const auto secret = scram_sha256_secret(
      "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->iterations, 4096U);
  EXPECT_EQ(secret->salt.size(), 16U);
  EXPECT_EQ(secret->stored_key.size(), 32U);
  EXPECT_EQ(secret->server_key.size(), 32U);
}

TEST(SaslStoredSecret, RejectsMalformedScram) {
  const std::string key = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
  const std::string bad[] = {
      "{SCRAM-SHA-256}",
      "{SCRAM-SHA-256}4096",
      "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==," + key,
      "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==," + key + "," + key + ",",
      "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==," + key + "," + key + "," + key,
      "{SCRAM-SHA-256}0,W22ZaJ0SNY7soEsUEjb6gQ==," + key + "," + key,
      "{SCRAM-SHA-256}-1,W22ZaJ0SNY7soEsUEjb6gQ==," + key + "," + key,
      "{SCRAM-SHA-256}99999999999,W22ZaJ0SNY7soEsUEjb6gQ==," + key + "," + key,
      "{SCRAM-SHA-256}4096x,W22ZaJ0SNY7soEsUEjb6gQ==," + key + "," + key,
      "{SCRAM-SHA-256}4096,," + key + "," + key,
      "{SCRAM-SHA-256}4096,!!!!," + key + "," + key,
      "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,AAAA," + key,
      "{SCRAM-SHA-1}4096,W22ZaJ0SNY7soEsUEjb6gQ==," + key + "," + key,
  };
  for (const auto& stored : bad) EXPECT_FALSE(scram_sha256_secret(stored).has_value()) << stored;
}

}  // namespace
}  // namespace postern::auth::sasl
