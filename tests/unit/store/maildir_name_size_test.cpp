// The ,W= size in a Maildir file name: parsed strictly, and trusted by the first open so that a
// large maildrop is sized without reading every file.
#include <gtest/gtest.h>

#include "store/maildir.hpp"
#include "store/maildir_layout.hpp"
#include "store_test_support.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using test_support::read_all;
using test_support::sizes_of;
using test_support::TempDir;
using test_support::write_file;

TEST(CrlfSizeFromName, ReadsTheWField) {
  EXPECT_EQ(crlf_size_from_name("1700000000.M1P2Q3.host,S=10,W=12"), 12u);
  EXPECT_EQ(crlf_size_from_name("1700000000.M1P2Q3.host,W=12,S=10:2,S"), 12u);
  EXPECT_EQ(crlf_size_from_name("1.host,W=0"), 0u);
  EXPECT_EQ(crlf_size_from_name("1.host,W=18446744073709551615"), 18446744073709551615u);
}

TEST(CrlfSizeFromName, RefusesAnythingButAPlainNumber) {
  for (const char* name :
       {"1700000000.M1P2Q3.host", "1.host,S=10", "1.host,W=", "1.host,W=12x", "1.host,W=-1",
        "1.host,W=+1", "1.host,W= 12", "1.host,W=18446744073709551616", "1.host,w=12",
        "1.host,XW=12", "1.host:2,W=12", "W=12", "1.host,W=1,2"}) {
    const auto size = crlf_size_from_name(name);
    if (std::string_view(name) == "1.host,W=1,2") {
      EXPECT_EQ(size, 1u) << name;  // "2" is a field of its own
    } else {
      EXPECT_FALSE(size) << name;
    }
  }
}

TEST(MaildirNamedSizes, FirstOpenTakesTheNamedSizeAndMeasuresTheRest) {
  TempDir tmp;
  MaildirStore store((tmp.path() / "%u").string());
  const fs::path maildir = tmp.path() / "alice";
  for (const char* sub : {"tmp", "new", "cur"}) fs::create_directories(maildir / sub);
  // 6 raw octets, 9 in CRLF form: the name says 9, correctly.
  write_file(maildir / "new" / "1000.M1P1Q1.host,S=6,W=9", "a\nb\nc\n");
  // The name's size wins over the content: proof that the file was not read to size it.
  write_file(maildir / "new" / "1000.M1P1Q2.host,S=3,W=777", "x\n");
  // No W=: measured (3 lines of LF -> 6 + 3).
  write_file(maildir / "new" / "1000.M1P1Q3.host", "one\ntwo\n");
  const auto maildrop = store.open({"alice", ""});
  EXPECT_EQ(sizes_of(*maildrop), (std::vector<std::uint64_t>{9, 777, 10}));
  EXPECT_EQ(read_all(*maildrop->open_message(0)), "a\nb\nc\n");
}

}  // namespace
}  // namespace postern::store
