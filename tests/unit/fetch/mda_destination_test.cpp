// Delivery through an MDA: the message on stdin, exit codes 0, 75 and others, a command that
// stops reading early, and the honest at-least-once reconciliation.
#include "fetch/mda_destination.hpp"

#include <gtest/gtest.h>

#include "fetch/destination.hpp"
#include "fetch/error.hpp"
#include "reconcile_one.hpp"
#include "support/temp_dir.hpp"

namespace postern::fetch {
namespace {

using testing::reconcile_one;

using postern::test_support::read_file;
using postern::test_support::TempDir;

void deliver(Destination& destination, std::string_view content) {
  auto delivery = destination.begin(destination.plan());
  delivery->write(content);
  std::string intent;
  delivery->commit([&intent](const std::string& detail) { intent = detail; });
  EXPECT_EQ(intent, "mda");
}

TEST(MdaDestination, MessageOnStdin) {
  TempDir dir;
  auto destination = make_mda_destination("cat > '" + (dir / "out").string() + "'", dir / "spool");
  EXPECT_EQ(destination->plan(), "");
  EXPECT_TRUE(destination->done_must_be_durable());
  const std::string big(3 * 1024 * 1024, 'x');  // more than a pipe buffer
  deliver(*destination, "Subject: a\n\n" + big + "\n");
  EXPECT_EQ(read_file(dir / "out"), "Subject: a\n\n" + big + "\n");
}

TEST(MdaDestination, ExitCodes) {
  TempDir dir;
  auto deferred = make_mda_destination("cat >/dev/null; exit 75", dir / "spool");
  try {
    deliver(*deferred, "x\n");
    FAIL();
  } catch (const FetchError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::temporary);
    EXPECT_NE(std::string(e.what()).find("exit 75"), std::string::npos);
  }
  auto failing = make_mda_destination("cat >/dev/null; exit 3", dir / "spool");
  try {
    deliver(*failing, "x\n");
    FAIL();
  } catch (const FetchError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::failure);
    EXPECT_NE(std::string(e.what()).find("exit status 3"), std::string::npos);
  }
}

TEST(MdaDestination, CommandThatStopsReadingDoesNotKillUs) {
  TempDir dir;
  auto destination = make_mda_destination("exit 0", dir / "spool");
  // Whether the pipe broke or not, exit 0 is the MDA's word: delivered.
  EXPECT_NO_THROW(deliver(*destination, std::string(4 * 1024 * 1024, 'y')));
  auto failing = make_mda_destination("head -c 10 >/dev/null; exit 1", dir / "spool");
  EXPECT_THROW(deliver(*failing, std::string(4 * 1024 * 1024, 'y')), FetchError);
}

TEST(MdaReconcile, AnInterruptedDeliveryIsRepeatedWithANote) {
  std::string note;
  EXPECT_EQ(reconcile_one("mda", "/nonexistent", note), Reconciled::not_delivered);
  EXPECT_NE(note.find("twice"), std::string::npos);
}

}  // namespace
}  // namespace postern::fetch
