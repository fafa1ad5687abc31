// The login decision as a table: what the server offers x how the connection is protected.
#include "fetch/login_choice.hpp"

#include <gtest/gtest.h>

#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

using M = LoginMethod;

Capabilities caps(std::vector<std::string> sasl, bool user = true, bool known = true) {
  Capabilities c;
  c.known = known;
  c.user = user;
  c.sasl = std::move(sasl);
  return c;
}

struct Case {
  const char* name;
  Capabilities caps;
  bool tls;
  bool binding;
  bool allow_plaintext;
  bool timestamp;
  std::vector<LoginMethod> expected;  // empty: refused
};

TEST(LoginChoice, Matrix) {
  const std::vector<Case> cases = {
      {"scram over tls",
       caps({"PLAIN", "SCRAM-SHA-256"}),
       true,
       false,
       false,
       false,
       {M::scram_sha256, M::sasl_plain}},
      {"plus over tls 1.3",
       caps({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"}),
       true,
       true,
       false,
       false,
       {M::scram_sha256_plus, M::sasl_plain}},
      {"plus offered but no binding",
       caps({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}),
       true,
       false,
       false,
       false,
       {M::scram_sha256, M::user_pass}},
      {"plain preferred to user", caps({"PLAIN"}), true, false, false, false, {M::sasl_plain}},
      {"user only", caps({}), true, false, false, false, {M::user_pass}},
      {"rfc 1939 server",
       caps({}, false, false),
       true,
       false,
       false,
       true,
       {M::user_pass, M::apop}},
      {"apop after user over tls", caps({}), true, false, false, true, {M::user_pass, M::apop}},
      {"clear text refused", caps({"PLAIN"}), false, false, false, false, {}},
      {"clear text: apop only", caps({"PLAIN"}), false, false, false, true, {M::apop}},
      {"clear text: scram is fine",
       caps({"PLAIN", "SCRAM-SHA-256"}),
       false,
       false,
       false,
       false,
       {M::scram_sha256}},
      {"clear text allowed", caps({"PLAIN"}), false, false, true, false, {M::sasl_plain}},
      {"no binding without tls",
       caps({"SCRAM-SHA-256-PLUS"}),
       false,
       true,
       true,
       false,
       {M::user_pass}},
      {"capa without USER still tries USER over tls",
       caps({"XOAUTH2"}, false),
       true,
       false,
       false,
       false,
       {M::user_pass}},
  };
  for (const auto& c : cases) {
    LoginContext context;
    context.caps = c.caps;
    context.tls = c.tls;
    context.channel_binding = c.binding;
    context.allow_plaintext = c.allow_plaintext;
    if (c.timestamp) context.apop_timestamp = "<1.2@x>";
    if (c.expected.empty()) {
      try {
        choose_login(context);
        ADD_FAILURE() << c.name << ": expected a refusal";
      } catch (const FetchError& e) {
        EXPECT_EQ(e.kind(), ErrorKind::auth) << c.name;
        EXPECT_NE(std::string(e.what()).find("allow_plaintext"), std::string::npos) << c.name;
      }
      continue;
    }
    EXPECT_EQ(choose_login(context), c.expected) << c.name;
  }
}

}  // namespace
}  // namespace postern::fetch
