#include "store/printable.hpp"

#include <gtest/gtest.h>

#include "store/posix_io.hpp"

namespace postern::store {
namespace {

TEST(Printable, EscapesWhatCouldBreakALogOrReplyLine) {
  struct Case {
    std::string bytes;
    const char* shown;
  };
  const Case cases[] = {
      {"1700000000.M1P2.host,S=3:2,S", "1700000000.M1P2.host,S=3:2,S"},
      {"a\r\n+OK", "a\\x0d\\x0a+OK"},
      {"caf\xc3\xa9", "caf\\xc3\\xa9"},
      {"back\\slash", "back\\\\slash"},
      {std::string("nul\0x", 5), "nul\\x00x"},
      {"del\x7f", "del\\x7f"},
  };
  for (const Case& c : cases) EXPECT_EQ(printable(c.bytes), c.shown);
}

TEST(ErrnoMessage, NamesActionPathAndReasonWithThePathEscaped) {
  EXPECT_EQ(errno_message(ENOENT, "cannot open", "/m/cur/x\ny"),
            "cannot open /m/cur/x\\x0ay: No such file or directory");
}

}  // namespace
}  // namespace postern::store
