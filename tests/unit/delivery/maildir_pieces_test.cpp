// deliver_to_maildir with a message in pieces (headers + a shared body): the file is the pieces
// back to back and the ,S= / ,W= sizes in its name are those of the whole.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "store/maildir_delivery.hpp"
#include "store/maildrop.hpp"
#include "store/message_size.hpp"
#include "support/temp_dir.hpp"

namespace postern::store {
namespace {

namespace fs = std::filesystem;
using test_support::read_file;
using test_support::TempDir;

// ",S=<n>,W=<n>" from the end of a name "<secs>.M<usec>P<pid>Q<n>.<host>,S=<n>,W=<n>".
std::string sizes_in(const std::string& name) {
  const auto at = name.find(",S=");
  EXPECT_NE(at, std::string::npos) << name;
  EXPECT_EQ(name.find_first_of("/:"), std::string::npos) << name;
  return at == std::string::npos ? std::string() : name.substr(at);
}

std::string expected_sizes(std::string_view content) {
  CrlfSizeCounter crlf;
  crlf.feed(content);
  return ",S=" + std::to_string(content.size()) + ",W=" + std::to_string(crlf.size());
}

TEST(DeliverPieces, WritesThePiecesInOrderWithWholeMessageSizes) {
  const TempDir tmp;
  const std::string headers = "Return-Path: <a@b>\nDelivered-To: c@d\n";
  const std::string body = "Subject: x\r\n\r\nline\nlast line without newline";
  const std::array<std::string_view, 2> pieces{headers, body};
  const std::string name = deliver_to_maildir(tmp.path(), pieces);
  const std::string stored = read_file(tmp.path() / "new" / name);
  EXPECT_EQ(stored, headers + body);
  EXPECT_EQ(sizes_in(name), expected_sizes(stored));
}

// A CR at the end of one piece and the LF at the start of the next are one CRLF in the W= size.
TEST(DeliverPieces, CrlfSplitAcrossPieces) {
  const TempDir tmp;
  const std::array<std::string_view, 3> pieces{"a\r", "\nb", ""};
  const std::string name = deliver_to_maildir(tmp.path(), pieces);
  EXPECT_EQ(read_file(tmp.path() / "new" / name), "a\r\nb");
  EXPECT_EQ(sizes_in(name), ",S=4,W=6");
}

// More pieces than one writev takes, empty ones among them.
TEST(DeliverPieces, ManyPiecesOfEverySize) {
  const TempDir tmp;
  std::vector<std::string> texts;
  std::string whole;
  for (int i = 0; i < 300; ++i) {
    texts.push_back(std::string(static_cast<std::size_t>((i * 37) % 5000), char('a' + i % 26)) +
                    (i % 3 == 0 ? "\n" : ""));
    if (i % 7 == 0) texts.back().clear();
    whole += texts.back();
  }
  std::vector<std::string_view> pieces(texts.begin(), texts.end());
  const std::string name = deliver_to_maildir(tmp.path(), pieces);
  EXPECT_EQ(read_file(tmp.path() / "new" / name), whole);
  EXPECT_EQ(sizes_in(name), expected_sizes(whole));
}

TEST(DeliverPieces, NoPiecesIsAnEmptyMessage) {
  const TempDir tmp;
  const std::string name = deliver_to_maildir(tmp.path(), std::span<const std::string_view>{});
  EXPECT_EQ(read_file(tmp.path() / "new" / name), "");
  EXPECT_EQ(sizes_in(name), ",S=0,W=0");
}

TEST(DeliverPieces, ErrorsCarryTheErrno) {
  const TempDir tmp;
  test_support::write_file(tmp / "file", "x");
  const std::array<std::string_view, 1> pieces{"x\n"};
  try {
    deliver_to_maildir(tmp / "file" / "maildir", pieces);
    FAIL() << "delivered under a regular file";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.sys_errno(), ENOTDIR) << e.what();
    EXPECT_EQ(e.code(), StoreErrc::permanent);
  }
}

}  // namespace
}  // namespace postern::store
