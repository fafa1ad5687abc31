// Deliverer: recipient lookup, size and quota checks, envelope headers, failure statuses, and
// delivery into a maildrop a POP3 session holds open.
#include "delivery/deliverer.hpp"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/maildir.hpp"
#include "store/maildir_delivery.hpp"
#include "support/temp_dir.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

// A passdb in memory that records what it was asked, and can be made to fail.
class FakePassdb final : public auth::Passdb {
 public:
  void add(const std::string& user, std::vector<std::string> extra = {}, std::string home = {}) {
    auth::UserRecord record;
    record.user = user;
    record.home = std::move(home);
    record.extra = std::move(extra);
    users_[user] = std::move(record);
  }
  auth::AuthResult verify(std::string_view, std::string_view) override {
    return {auth::AuthStatus::bad_credentials, "not used", std::nullopt};
  }
  std::optional<auth::UserRecord> lookup(std::string_view user) override {
    std::lock_guard lock(mutex_);
    asked.emplace_back(user);
    if (down) throw std::runtime_error("passwd-file /etc/postern/users: cannot open: EIO");
    const auto found = users_.find(std::string(user));
    if (found == users_.end()) return std::nullopt;
    return found->second;
  }

  bool down = false;
  std::vector<std::string> asked;

 private:
  std::mutex mutex_;
  std::map<std::string, auth::UserRecord> users_;
};

std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

class DelivererTest : public ::testing::Test {
 protected:
  Deliverer deliverer() const { return Deliverer(passdb_, store_, settings_); }
  Recipient found(std::string_view address) const {
    const Lookup lookup = deliverer().lookup(address);
    EXPECT_EQ(lookup.status, DeliveryStatus::delivered) << lookup.detail;
    return lookup.recipient.value_or(Recipient{});
  }
  fs::path maildir(std::string_view user) const { return tmp_ / "mail" / user; }
  std::string only_message(std::string_view user) const {
    const auto names = entries_of(maildir(user) / "new");
    EXPECT_EQ(names.size(), 1U);
    return names.empty() ? std::string() : read_file(maildir(user) / "new" / names.front());
  }

  TempDir tmp_{"postern-delivery-test"};
  mutable FakePassdb passdb_;
  store::MaildirStore store_{(tmp_.path() / "mail" / "%u").string()};
  config::DeliverySettings settings_;
};

TEST_F(DelivererTest, LooksUpTheExactName) {
  passdb_.add("alice", {}, "/home/alice");
  const Recipient r = found("alice");
  EXPECT_EQ(r.address, "alice");
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.home, "/home/alice");
  EXPECT_EQ(r.quota, Quota{});
}

TEST_F(DelivererTest, ExactAddressWinsOverTheLocalPart) {
  passdb_.add("alice");
  passdb_.add("alice@example.org");
  EXPECT_EQ(found("alice@example.org").user, "alice@example.org");
}

TEST_F(DelivererTest, FallsBackToTheLocalPartBeforeTheLastAt) {
  passdb_.add("alice");
  passdb_.add("a@b");
  const Recipient r = found("alice@example.org");
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.address, "alice@example.org");
  EXPECT_EQ(found("a@b@example.org").user, "a@b");
}

TEST_F(DelivererTest, NoFallbackWhenSwitchedOff) {
  passdb_.add("alice");
  settings_.local_part_fallback = false;
  const Lookup lookup = deliverer().lookup("alice@example.org");
  EXPECT_EQ(lookup.status, DeliveryStatus::unknown_user);
  EXPECT_FALSE(lookup.recipient);
  EXPECT_EQ(lookup.detail, "unknown user alice@example.org");
  EXPECT_EQ(passdb_.asked, std::vector<std::string>{"alice@example.org"});
}

TEST_F(DelivererTest, UnknownUser) {
  passdb_.add("alice");
  const Lookup lookup = deliverer().lookup("bob@example.org");
  EXPECT_EQ(lookup.status, DeliveryStatus::unknown_user);
  EXPECT_EQ(lookup.detail, "unknown user bob@example.org");
}

TEST_F(DelivererTest, InvalidNamesAreUnknownAndNeverReachThePassdb) {
  passdb_.add("alice");
  for (const std::string_view address :
       {std::string_view(""), std::string_view("../alice"), std::string_view("a b@example.org"),
        std::string_view("a/b@example.org"), std::string_view("alice\r\nX: y"),
        std::string_view("ali:ce")}) {
    const Lookup lookup = deliverer().lookup(address);
    EXPECT_EQ(lookup.status, DeliveryStatus::unknown_user) << address;
    // The detail is printable: no CR/LF can reach a log line or a reply.
    EXPECT_EQ(lookup.detail.find_first_of("\r\n"), std::string::npos) << lookup.detail;
  }
  EXPECT_TRUE(passdb_.asked.empty());
  // An empty local part is not looked up either; the whole address still is.
  EXPECT_EQ(deliverer().lookup("@example.org").status, DeliveryStatus::unknown_user);
  EXPECT_EQ(passdb_.asked, std::vector<std::string>{"@example.org"});
}

TEST_F(DelivererTest, PassdbTroubleIsTemporary) {
  passdb_.add("alice");
  passdb_.down = true;
  const Lookup lookup = deliverer().lookup("alice@example.org");
  EXPECT_EQ(lookup.status, DeliveryStatus::temporary_failure);
  EXPECT_FALSE(lookup.recipient);
  EXPECT_NE(lookup.detail.find("user database unavailable"), std::string::npos) << lookup.detail;
  EXPECT_NE(lookup.detail.find("/etc/postern/users"), std::string::npos) << lookup.detail;
}

TEST_F(DelivererTest, QuotaFromFieldsOverTheServerDefault) {
  settings_.quota_bytes = 1000;
  settings_.quota_messages = 10;
  passdb_.add("plain");
  passdb_.add("big", {"userdb_quota_rule=*:storage=1M"});
  passdb_.add("few", {"quota_messages=3"});
  EXPECT_EQ(found("plain").quota, (Quota{1000, 10}));
  EXPECT_EQ(found("big").quota, (Quota{1 << 20, 10}));
  EXPECT_EQ(found("few").quota, (Quota{1000, 3}));
}

TEST_F(DelivererTest, MalformedQuotaFieldIsTemporaryAndNamesUserAndField) {
  passdb_.add("alice", {"userdb_quota_rule=*:storage=10%"});
  const Lookup lookup = deliverer().lookup("alice@example.org");
  EXPECT_EQ(lookup.status, DeliveryStatus::temporary_failure);
  EXPECT_NE(lookup.detail.find("user alice"), std::string::npos) << lookup.detail;
  EXPECT_NE(lookup.detail.find("userdb_quota_rule=*:storage=10%"), std::string::npos)
      << lookup.detail;
}

TEST_F(DelivererTest, DeliversWithEnvelopeHeaders) {
  passdb_.add("alice");
  const Recipient r = found("alice@example.org");
  const DeliveryResult result =
      deliverer().deliver(r, {"bob@example.net", true, true}, "Subject: hi\n\nbody\n");
  ASSERT_EQ(result.status, DeliveryStatus::delivered) << result.detail;
  EXPECT_EQ(entries_of(maildir("alice") / "new"), std::vector<std::string>{result.unique_name});
  EXPECT_TRUE(entries_of(maildir("alice") / "tmp").empty());
  EXPECT_EQ(only_message("alice"),
            "Return-Path: <bob@example.net>\nDelivered-To: alice@example.org\nSubject: hi\n\n"
            "body\n");
}

TEST_F(DelivererTest, NoEnvelopeNoHeaders) {
  passdb_.add("alice");
  const DeliveryResult result = deliverer().deliver(found("alice"), {}, "Subject: hi\n\nbody\n");
  ASSERT_EQ(result.status, DeliveryStatus::delivered) << result.detail;
  EXPECT_EQ(only_message("alice"), "Subject: hi\n\nbody\n");
}

TEST_F(DelivererTest, NullSenderAndBracketedSender) {
  passdb_.add("alice");
  passdb_.add("bob");
  ASSERT_EQ(deliverer().deliver(found("alice"), {"", true, false}, "x\n").status,
            DeliveryStatus::delivered);
  EXPECT_EQ(only_message("alice"), "Return-Path: <>\nx\n");
  ASSERT_EQ(deliverer().deliver(found("bob"), {"<c@example.net>", true, false}, "x\n").status,
            DeliveryStatus::delivered);
  EXPECT_EQ(only_message("bob"), "Return-Path: <c@example.net>\nx\n");
}

TEST_F(DelivererTest, DeliveredToFallsBackToTheUserName) {
  passdb_.add("alice");
  Recipient r = found("alice");
  r.address.clear();
  ASSERT_EQ(deliverer().deliver(r, {"", false, true}, "x\n").status, DeliveryStatus::delivered);
  EXPECT_EQ(only_message("alice"), "Delivered-To: alice\nx\n");
}

TEST_F(DelivererTest, CrOrLfInAnAddressNeverMakesAHeaderLine) {
  passdb_.add("alice");
  Recipient r = found("alice");
  r.address = "alice@example.org\r\nX-Injected: 1";
  const Envelope envelope{"evil@example.net\nBcc: victim@example.org\r", true, true};
  ASSERT_EQ(deliverer().deliver(r, envelope, "Subject: hi\n\nbody\n").status,
            DeliveryStatus::delivered);
  EXPECT_EQ(only_message("alice"),
            "Return-Path: <evil@example.netBcc: victim@example.org>\n"
            "Delivered-To: alice@example.orgX-Injected: 1\n"
            "Subject: hi\n\nbody\n");
}

TEST_F(DelivererTest, TooLarge) {
  settings_.max_message_size = 1024;
  passdb_.add("alice");
  const Recipient r = found("alice");
  const DeliveryResult result = deliverer().deliver(r, {}, std::string(1025, 'x'));
  EXPECT_EQ(result.status, DeliveryStatus::too_large);
  EXPECT_EQ(result.detail, "message too large: 1025 bytes, the limit is 1k");
  EXPECT_TRUE(entries_of(maildir("alice") / "new").empty());
  // Exactly the limit is fine, and the envelope headers do not count against it.
  EXPECT_EQ(deliverer().deliver(r, {"bob@example.net", true, true}, std::string(1024, 'x')).status,
            DeliveryStatus::delivered);
}

TEST_F(DelivererTest, OverTheByteQuota) {
  passdb_.add("alice", {"quota_bytes=100"});
  const Recipient r = found("alice");
  store::deliver_to_maildir(maildir("alice"), std::string(60, 'a'));
  const DeliveryResult over = deliverer().deliver(r, {}, std::string(41, 'b'));
  EXPECT_EQ(over.status, DeliveryStatus::over_quota);
  EXPECT_EQ(over.detail, "mailbox full: quota of 100 exceeded");
  EXPECT_FALSE(over.defer);
  EXPECT_TRUE(deliverer().over_quota(r, 41));
  // Usage + this message exactly at the limit is accepted; after that, nothing fits.
  EXPECT_FALSE(deliverer().over_quota(r, 40));
  EXPECT_EQ(deliverer().deliver(r, {}, std::string(40, 'c')).status, DeliveryStatus::delivered);
  EXPECT_EQ(deliverer().deliver(r, {}, "x").status, DeliveryStatus::over_quota);
  EXPECT_EQ(entries_of(maildir("alice") / "new").size(), 2U);
}

TEST_F(DelivererTest, EnvelopeHeadersCountAgainstTheByteQuota) {
  passdb_.add("alice", {"userdb_quota_rule=*:bytes=30"});
  const Recipient r = found("alice");
  // "Return-Path: <a@b>\n" is 19 bytes: 19 + 12 = 31 > 30.
  EXPECT_EQ(deliverer().deliver(r, {"a@b", true, false}, std::string(12, 'x')).status,
            DeliveryStatus::over_quota);
  EXPECT_EQ(deliverer().deliver(r, {"a@b", true, false}, std::string(11, 'x')).status,
            DeliveryStatus::delivered);
}

TEST_F(DelivererTest, OverTheMessageQuota) {
  passdb_.add("alice", {"userdb_quota_rule=*:messages=2"});
  const Recipient r = found("alice");
  EXPECT_EQ(deliverer().deliver(r, {}, "1\n").status, DeliveryStatus::delivered);
  EXPECT_EQ(deliverer().deliver(r, {}, "2\n").status, DeliveryStatus::delivered);
  EXPECT_TRUE(deliverer().over_quota(r, 0));
  const DeliveryResult over = deliverer().deliver(r, {}, "3\n");
  EXPECT_EQ(over.status, DeliveryStatus::over_quota);
  EXPECT_EQ(over.detail, "mailbox full: quota of 2 messages exceeded");
  EXPECT_EQ(entries_of(maildir("alice") / "new").size(), 2U);
}

TEST_F(DelivererTest, MessagesInCurCountToo) {
  passdb_.add("alice", {"quota_messages=1"});
  const Recipient r = found("alice");
  ASSERT_EQ(deliverer().deliver(r, {}, "1\n").status, DeliveryStatus::delivered);
  store_.open({"alice", ""});  // moves it to cur/
  EXPECT_TRUE(entries_of(maildir("alice") / "new").empty());
  EXPECT_EQ(deliverer().deliver(r, {}, "2\n").status, DeliveryStatus::over_quota);
}

TEST_F(DelivererTest, DeferWhenConfigured) {
  settings_.quota_exceeded = config::QuotaExceeded::defer;
  passdb_.add("alice", {"quota_messages=1"});
  const Recipient r = found("alice");
  ASSERT_EQ(deliverer().deliver(r, {}, "1\n").status, DeliveryStatus::delivered);
  const DeliveryResult over = deliverer().deliver(r, {}, "2\n");
  EXPECT_EQ(over.status, DeliveryStatus::over_quota);
  EXPECT_TRUE(over.defer);
  EXPECT_EQ(enhanced_status_code(over.status, over.defer), "4.2.2");
}

TEST_F(DelivererTest, ServerDefaultQuotaApplies) {
  settings_.quota_messages = 1;
  passdb_.add("alice");
  passdb_.add("vip", {"quota_messages=0"});  // unlimited, whatever the default
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(deliverer().deliver(found("vip"), {}, "x\n").status, DeliveryStatus::delivered);
  }
  EXPECT_EQ(deliverer().deliver(found("alice"), {}, "1\n").status, DeliveryStatus::delivered);
  EXPECT_EQ(deliverer().deliver(found("alice"), {}, "2\n").status, DeliveryStatus::over_quota);
}

// Root ignores permission bits, so the failure that binds everyone: a file where the maildir's
// parent folder should be (ENOTDIR).
TEST_F(DelivererTest, MaildirUnderAFileCannotBeCreated) {
  fs::create_directories(tmp_ / "mail");
  write_file(tmp_ / "mail" / "alice", "a file, not a folder");
  passdb_.add("alice");
  store::MaildirStore nested((tmp_.path() / "mail" / "%u" / "Maildir").string());
  const Deliverer d(passdb_, nested, settings_);
  const DeliveryResult result = d.deliver(found("alice"), {}, "x\n");
  EXPECT_EQ(result.status, DeliveryStatus::cannot_create);
  EXPECT_NE(result.detail.find("Not a directory"), std::string::npos) << result.detail;
  EXPECT_NE(result.detail.find("alice/Maildir"), std::string::npos) << result.detail;
}

TEST_F(DelivererTest, QuotaUsageOfAnUnusableMaildirFailsLikeTheDelivery) {
  fs::create_directories(maildir("alice"));
  write_file(maildir("alice") / "cur", "a file, not a folder");
  passdb_.add("alice", {"quota_messages=10"});
  const Recipient r = found("alice");
  EXPECT_FALSE(deliverer().over_quota(r, 1));  // unreadable counts as not over quota
  EXPECT_EQ(deliverer().deliver(r, {}, "x\n").status, DeliveryStatus::cannot_create);
}

TEST_F(DelivererTest, NoHomeForAHomeTemplateCannotBeCreated) {
  passdb_.add("alice");
  store::MaildirStore by_home("%h/Maildir");
  const Deliverer d(passdb_, by_home, settings_);
  const DeliveryResult result = d.deliver(found("alice"), {}, "x\n");
  EXPECT_EQ(result.status, DeliveryStatus::cannot_create) << result.detail;
  EXPECT_NE(result.detail.find("user alice has no home"), std::string::npos) << result.detail;
}

TEST_F(DelivererTest, DeliveryIntoAMaildropAPop3SessionHolds) {
  passdb_.add("alice");
  const Recipient r = found("alice");
  ASSERT_EQ(deliverer().deliver(r, {}, "first\n").status, DeliveryStatus::delivered);
  {
    const auto session = store_.open({"alice", ""});
    ASSERT_EQ(session->messages().size(), 1U);
    const auto before = session->messages();
    const DeliveryResult result = deliverer().deliver(r, {}, "second\n");
    ASSERT_EQ(result.status, DeliveryStatus::delivered) << result.detail;
    EXPECT_EQ(session->messages().size(), 1U);
    EXPECT_EQ(session->messages()[0].uidl, before[0].uidl);
  }
  const auto next = store_.open({"alice", ""});
  EXPECT_EQ(next->messages().size(), 2U);
}

TEST(StatusForErrno, SortsErrors) {
  for (const int err : {ENOSPC, EDQUOT, EIO, EMFILE, ENFILE, ENOMEM, EAGAIN, ESTALE}) {
    EXPECT_EQ(status_for_errno(err), DeliveryStatus::temporary_failure) << err;
  }
  for (const int err : {EACCES, EPERM, EROFS, ENOTDIR, EISDIR, ELOOP}) {
    EXPECT_EQ(status_for_errno(err), DeliveryStatus::cannot_create) << err;
  }
  for (const int err : {EINVAL, ENAMETOOLONG, EFBIG, EXDEV}) {
    EXPECT_EQ(status_for_errno(err), DeliveryStatus::io_error) << err;
  }
}

TEST(EnhancedStatusCode, OnePerStatus) {
  EXPECT_EQ(enhanced_status_code(DeliveryStatus::delivered), "2.0.0");
  EXPECT_EQ(enhanced_status_code(DeliveryStatus::unknown_user), "5.1.1");
  EXPECT_EQ(enhanced_status_code(DeliveryStatus::over_quota), "5.2.2");
  EXPECT_EQ(enhanced_status_code(DeliveryStatus::over_quota, true), "4.2.2");
  EXPECT_EQ(enhanced_status_code(DeliveryStatus::too_large), "5.3.4");
  EXPECT_EQ(enhanced_status_code(DeliveryStatus::temporary_failure), "4.3.0");
  EXPECT_EQ(enhanced_status_code(DeliveryStatus::cannot_create), "5.2.0");
  EXPECT_EQ(enhanced_status_code(DeliveryStatus::io_error), "5.3.0");
}

TEST(ToLf, Cases) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"a", "a"},
      {"a\r\nb\r\n", "a\nb\n"},
      {"a\nb\n", "a\nb\n"},
      {"a\rb", "a\rb"},      // a lone CR stays
      {"a\r", "a\r"},        // also at the end
      {"\r\r\n", "\r\n"},    // CR, then CRLF
      {"\r\n\r\n", "\n\n"},  // blank lines
      {"a\r\r\nb\n\r", "a\r\nb\n\r"},
      {std::string("\0\r\n\0", 4), std::string("\0\n\0", 3)},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(to_lf(in), out) << in;
  const std::string big = [] {
    std::string text;
    for (int i = 0; i < 100000; ++i) text += "line of text\r\n";
    return text;
  }();
  const std::string converted = to_lf(big);
  EXPECT_EQ(converted.size(), big.size() - 100000);
  EXPECT_EQ(converted.find('\r'), std::string::npos);
}

}  // namespace
}  // namespace postern::delivery
