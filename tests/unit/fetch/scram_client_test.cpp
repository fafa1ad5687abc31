// The SCRAM client against RFC 7677's example and against postern's own server mechanism.
#include "fetch/scram_client.hpp"

#include <gtest/gtest.h>

#include "auth/sasl/scram.hpp"
#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

TEST(ScramClient, Rfc7677Example) {
  ScramClient client("user", "pencil", std::nullopt, "rOprNGfwEbeRWgbNEkqO");
  EXPECT_EQ(client.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  const std::string server_first =
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  EXPECT_EQ(client.client_final(server_first),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_NO_THROW(client.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
  EXPECT_THROW(client.verify_server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
               FetchError);
  EXPECT_THROW(client.verify_server_final("e=invalid-proof"), FetchError);
}

TEST(ScramClient, RefusesUnsafeServerFirstMessages) {
  const std::vector<std::string> bad = {
      "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",   // nonce not ours
      "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",           // nonce not extended
      "r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",           // cheap to brute-force
      "r=abcdef,s=!!,i=4096",                              // salt not base64
      "r=abcdef,i=4096",                                   // no salt
      "m=ext,r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // mandatory extension
  };
  for (const auto& message : bad) {
    ScramClient client("user", "pencil", std::nullopt, "abc");
    EXPECT_THROW(client.client_final(message), FetchError) << message;
  }
}

TEST(ScramClient, LogsInAgainstPosternsServerMechanismWithAndWithoutBinding) {
  for (const bool plus : {false, true}) {
    const std::string binding(32, '\x42');
    auth::sasl::ScramOptions options;
    options.lookup = [](std::string_view user) -> std::optional<std::string> {
      if (user == "a,b=c") return "{PLAIN}correct horse";
      return std::nullopt;
    };
    if (plus) options.plus_binding = binding;
    options.server_offers_plus = plus;
    auto server = auth::sasl::make_scram_sha256(options);
    ScramClient client("a,b=c", "correct horse",
                       plus ? std::optional<std::string>(binding) : std::nullopt);
    const auto first = server->step(client.client_first());
    ASSERT_EQ(first.status, auth::sasl::StepStatus::challenge) << first.reason;
    const auto final = server->step(client.client_final(first.data));
    ASSERT_EQ(final.status, auth::sasl::StepStatus::success) << final.reason;
    EXPECT_EQ(server->user(), "a,b=c");
    EXPECT_NO_THROW(client.verify_server_final(final.data));
  }
}

TEST(ScramClient, WrongPasswordFailsAtTheServer) {
  auth::sasl::ScramOptions options;
  options.lookup = [](std::string_view) -> std::optional<std::string> { return "{PLAIN}right"; };
  auto server = auth::sasl::make_scram_sha256(options);
  ScramClient client("user", "wrong");
  const auto first = server->step(client.client_first());
  const auto final = server->step(client.client_final(first.data));
  EXPECT_EQ(final.status, auth::sasl::StepStatus::failure);
}

}  // namespace
}  // namespace postern::fetch
