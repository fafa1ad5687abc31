#include "store/path_template.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "store/maildir.hpp"

namespace postern::store {
namespace {

std::string expand(const std::string& text, const std::string& user,
                   const std::string& home = "/home/u") {
  return MaildirStore(text).maildir_path({user, home}).string();
}

TEST(MaildirTemplate, ExpandsEverySequence) {
  struct Case {
    const char* text;
    const char* user;
    const char* expected;
  };
  const Case cases[] = {
      {"/var/mail/%d/%n", "alice@example.com", "/var/mail/example.com/alice"},
      {"/var/mail/%d/%n", "alice", "/var/mail//alice"},  // no domain: %d is empty
      {"/var/mail/%u", "alice@example.com", "/var/mail/alice@example.com"},
      {"%h/Maildir", "alice", "/home/u/Maildir"},
      {"/m/100%%/%n", "bob", "/m/100%/bob"},
      {"/m/%n/%d", "a@b@c", "/m/a/b@c"},  // split at the first '@'
      {"/plain", "x", "/plain"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(expand(c.text, c.user), c.expected) << c.text << " for " << c.user;
}

void expect_bad_template(const std::string& text, const std::string& mentioned) {
  try {
    MaildirStore store(text);
    ADD_FAILURE() << "accepted " << text;
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(text), std::string::npos) << what;
    EXPECT_NE(what.find(mentioned), std::string::npos) << what;
  }
}

TEST(MaildirTemplate, RejectsUnknownSequencesAndLonePercent) {
  expect_bad_template("/var/mail/%x", "%x");
  expect_bad_template("/var/mail/%U", "%U");
  expect_bad_template("/var/mail/%", "'%'");
  expect_bad_template("/var/mail/%%%", "'%'");
}

void expect_unsafe(const std::string& text, const std::string& user,
                   const std::string& home = "/home/u") {
  try {
    expand(text, user, home);
    ADD_FAILURE() << text << " expanded for " << user;
  } catch (const StoreError& e) {
    EXPECT_EQ(e.code(), StoreErrc::permanent);
    EXPECT_NE(std::string(e.what()).find(user), std::string::npos) << e.what();
  }
}

TEST(MaildirTemplate, RefusesPartsThatWouldLeaveTheirComponent) {
  expect_unsafe("/var/mail/%u", ".");
  expect_unsafe("/var/mail/%u", "..");
  expect_unsafe("/var/mail/%n", "a/b");
  expect_unsafe("/var/mail/%d/%n", "@example.com");  // empty local part
  expect_unsafe("/var/mail/%d/%n", "x@..");
  expect_unsafe("%h/Maildir", "nohome", "");
}

}  // namespace
}  // namespace postern::store
