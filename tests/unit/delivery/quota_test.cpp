// Quota fields from passwd-file lines (every accepted form and every refusal) and maildir usage.
#include "delivery/quota.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "store/maildir_delivery.hpp"
#include "store/maildrop.hpp"
#include "support/temp_dir.hpp"

namespace postern::delivery {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;
using test_support::write_file;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = KiB * 1024;
constexpr std::uint64_t GiB = MiB * 1024;

const Quota unlimited{};
const Quota server_default{5 * MiB, 100};

struct FieldsCase {
  std::vector<std::string> fields;
  Quota expected;
};

class QuotaFromFields : public ::testing::TestWithParam<FieldsCase> {};

TEST_P(QuotaFromFields, Parses) {
  EXPECT_EQ(quota_from_fields(GetParam().fields, server_default), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    AcceptedForms, QuotaFromFields,
    ::testing::Values(
        FieldsCase{{}, server_default},
        FieldsCase{{"userdb_mail=maildir:~/Maildir", "nologin"}, server_default},
        FieldsCase{{"userdb_quota_rule=*:storage=1G"}, {GiB, 100}},
        FieldsCase{{"quota_rule=*:storage=512M"}, {512 * MiB, 100}},
        FieldsCase{{"userdb_quota_rule=*:messages=5000"}, {5 * MiB, 5000}},
        FieldsCase{{"userdb_quota_rule=*:storage=1G:messages=5000"}, {GiB, 5000}},
        FieldsCase{{"quota_rule=*:storage=1G", "quota_rule2=*:messages=7"}, {GiB, 7}},
        FieldsCase{{"userdb_quota_rule=*:storage=1G", "userdb_quota_rule2=*:messages=7"}, {GiB, 7}},
        // Dovecot: a bare storage number counts kilobytes, a bare bytes number bytes.
        FieldsCase{{"userdb_quota_rule=*:storage=1024"}, {MiB, 100}},
        FieldsCase{{"userdb_quota_rule=*:bytes=1024"}, {KiB, 100}},
        FieldsCase{{"userdb_quota_rule=*:storage=10MB"}, {10 * MiB, 100}},
        FieldsCase{{"userdb_quota_rule=?:storage=2G"}, {2 * GiB, 100}},
        // Rules for other folders describe folders postern does not have.
        FieldsCase{{"userdb_quota_rule=*:storage=1G", "userdb_quota_rule2=Trash:storage=+100M"},
                   {GiB, 100}},
        FieldsCase{{"quota_rule3=SPAM:ignore"}, server_default},
        FieldsCase{{"userdb_quota_rule=*:storage=0"}, {0, 100}},
        FieldsCase{{"quota_bytes=1G"}, {GiB, 100}},
        FieldsCase{{"userdb_quota_bytes=4096"}, {4096, 100}},
        FieldsCase{{"quota_messages=10"}, {5 * MiB, 10}},
        FieldsCase{{"userdb_quota_messages=0"}, {5 * MiB, 0}},
        FieldsCase{{"quota_bytes=0", "quota_messages=0"}, unlimited},
        // The last field wins.
        FieldsCase{{"quota_bytes=1M", "userdb_quota_rule=*:storage=2M"}, {2 * MiB, 100}},
        // Look-alikes that are not quota fields.
        FieldsCase{{"quota_rulex=*:storage=1G", "my_quota_bytes=1", "quota_bytes"},
                   server_default}));

struct BadCase {
  std::string field;
  std::string message_part;  // must appear in the error
};

class QuotaFromFieldsRefuses : public ::testing::TestWithParam<BadCase> {};

TEST_P(QuotaFromFieldsRefuses, NamingTheField) {
  try {
    quota_from_fields({"uid=1", GetParam().field}, server_default);
    FAIL() << "accepted " << GetParam().field;
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\"" + GetParam().field + "\""), std::string::npos) << what;
    EXPECT_NE(what.find(GetParam().message_part), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, QuotaFromFieldsRefuses,
    ::testing::Values(BadCase{"userdb_quota_rule=*:storage=10%", "percentage"},
                      BadCase{"userdb_quota_rule=*:messages=10%%", "percentage"},
                      BadCase{"quota_bytes=50%", "percentage"},
                      BadCase{"userdb_quota_rule=*:storage=+100M", "relative"},
                      BadCase{"userdb_quota_rule=*:storage=1X", "is not a size"},
                      BadCase{"userdb_quota_rule=*:storage=", "is not a limit"},
                      BadCase{"userdb_quota_rule=*:storage", "is not a limit"},
                      BadCase{"userdb_quota_rule=*:files=3", "unknown limit \"files\""},
                      BadCase{"userdb_quota_rule=*:messages=many", "is not a message count"},
                      BadCase{"userdb_quota_rule=*:messages=-1", "is not a message count"},
                      BadCase{"userdb_quota_rule=storage=1G", "<mailbox>:<limits>"},
                      BadCase{"userdb_quota_rule=*:ignore", "not supported"},
                      BadCase{"userdb_quota_rule=*:backend=1G", "not supported"},
                      BadCase{"userdb_quota_rule=*:storage=1G:", "is not a limit"},
                      BadCase{"userdb_quota_rule=*:storage=18014398509481984", "too large"},
                      BadCase{"quota_bytes=", "is not a size"},
                      BadCase{"quota_bytes=1 G", "is not a size"},
                      BadCase{"quota_messages=1k", "is not a message count"}));

TEST(MaildirUsage, MissingMaildirIsEmpty) {
  const TempDir tmp;
  const Usage usage = maildir_usage(tmp / "nobody");
  EXPECT_EQ(usage.bytes, 0U);
  EXPECT_EQ(usage.messages, 0U);
}

TEST(MaildirUsage, CountsNewAndCurButNotTmp) {
  const TempDir tmp;
  const fs::path maildir = tmp / "m";
  for (const char* sub : {"new", "cur", "tmp"}) fs::create_directories(maildir / sub);
  // Sizes from ,S= (the file content deliberately disagrees, to prove the name is used).
  write_file(maildir / "new" / "1.M1P1Q1.h,S=100,W=104", "x");
  write_file(maildir / "cur" / "2.M1P1Q1.h,S=2000:2,S", "y");
  write_file(maildir / "cur" / "3.M1P1Q1.h,W=9,S=30:2,", "z");
  // No S=: stat.
  write_file(maildir / "cur" / "4.M1P1Q1.h:2,", std::string(777, 'a'));
  write_file(maildir / "new" / "5.M1P1Q1.h,S=notanumber", std::string(55, 'b'));
  // Not messages: dot files, directories, symlinks, tmp/.
  write_file(maildir / "cur" / ".hidden,S=100000", "q");
  write_file(maildir / "new" / ".postern-temp", std::string(5000, 'q'));
  fs::create_directory(maildir / "cur" / "subdir,S=100000");
  fs::create_symlink(maildir / "cur" / "4.M1P1Q1.h:2,", maildir / "cur" / "link,S=100000");
  write_file(maildir / "tmp" / "6.M1P1Q1.h,S=100000", "t");

  const Usage usage = maildir_usage(maildir);
  EXPECT_EQ(usage.messages, 5U);
  EXPECT_EQ(usage.bytes, 100U + 2000U + 30U + 777U + 55U);
}

TEST(MaildirUsage, CountsWhatDeliveryWrote) {
  const TempDir tmp;
  const fs::path maildir = tmp / "m";
  store::deliver_to_maildir(maildir, "Subject: a\n\nbody\n");
  store::deliver_to_maildir(maildir, std::string(1000, 'x'));
  const Usage usage = maildir_usage(maildir);
  EXPECT_EQ(usage.messages, 2U);
  EXPECT_EQ(usage.bytes, 17U + 1000U);
}

TEST(MaildirUsage, AFileWhereAFolderBelongsIsAnError) {
  const TempDir tmp;
  const fs::path maildir = tmp / "m";
  fs::create_directories(maildir);
  write_file(maildir / "cur", "not a folder");
  EXPECT_THROW(maildir_usage(maildir), store::StoreError);
}

}  // namespace
}  // namespace postern::delivery
