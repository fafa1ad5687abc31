// Several accounts in parallel, the summary line and the one exit code for a whole run.
#include "fetch/runner.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "fake_server.hpp"
#include "fetch/connection.hpp"
#include "support/temp_dir.hpp"

namespace postern::fetch {
namespace {

using postern::test_support::TempDir;
using postern::test_support::write_file;

AccountResult result(std::optional<ErrorKind> error, std::size_t message_errors = 0) {
  AccountResult r;
  r.label = "a@h";
  if (error) r.error = FetchError(*error, "x");
  r.message_errors = message_errors;
  return r;
}

TEST(Runner, ExitCodes) {
  EXPECT_EQ(exit_code_for({}), 0);
  EXPECT_EQ(exit_code_for({result(std::nullopt), result(std::nullopt)}), 0);
  EXPECT_EQ(exit_code_for({result(std::nullopt), result(ErrorKind::temporary)}), 75);
  EXPECT_EQ(exit_code_for({result(ErrorKind::auth), result(ErrorKind::auth)}), 77);
  EXPECT_EQ(exit_code_for({result(ErrorKind::config)}), 78);
  EXPECT_EQ(exit_code_for({result(ErrorKind::failure)}), 1);
  EXPECT_EQ(exit_code_for({result(std::nullopt, 2)}), 1);
  EXPECT_EQ(exit_code_for({result(ErrorKind::temporary), result(ErrorKind::auth)}), 1);
}

TEST(Runner, SummaryLine) {
  AccountResult r;
  r.label = "alice@mail.example.org";
  r.fetched = 12;
  r.octets = 3'200'000;
  EXPECT_EQ(summary_line(r), "alice@mail.example.org: 12 new, 3.2 MB, 0 errors");
  r.headers_only = 1;
  r.skipped = 2;
  r.deleted = 3;
  r.message_errors = 1;
  r.error = FetchError(ErrorKind::temporary, "gone");
  EXPECT_EQ(summary_line(r),
            "alice@mail.example.org: 12 new, 3.2 MB, 1 headers only, 2 skipped (over max_size), "
            "3 deleted, 2 errors");
  EXPECT_EQ(format_octets(999), "999 B");
  EXPECT_EQ(format_octets(1500), "1.5 kB");
  EXPECT_EQ(format_octets(7'300'000'000), "7.3 GB");
}

TEST(Runner, FingerprintFormat) {
  EXPECT_EQ(format_fingerprint(std::string("\x01\xab\xff", 3)), "01:AB:FF");
}

TEST(Runner, AccountsRunInParallelAndResultsKeepTheirOrder) {
  TempDir dir;
  write_file(dir / "pw", "secret\n");
  std::filesystem::permissions(dir / "pw", std::filesystem::perms::owner_read);
  std::vector<Account> accounts;
  std::vector<testing::FakeMaildrop> drops(5);
  for (std::size_t i = 0; i < drops.size(); ++i) {
    for (std::size_t k = 0; k <= i; ++k) {
      drops[i].messages.push_back({"u" + std::to_string(k), "Subject: x\r\n\r\nbody\r\n"});
    }
    Account a;
    a.name = "acct" + std::to_string(i);
    a.host = "h" + std::to_string(i);
    a.user = "alice";
    a.password = {PasswordSource::Kind::file, (dir / "pw").string()};
    a.deliver_path = dir / ("Mail" + std::to_string(i));
    a.state_dir = dir / ("state" + std::to_string(i));
    accounts.push_back(a);
  }
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::mutex mutex;
  RunOptions options;
  options.connect = [&](const Account& a) -> std::unique_ptr<Stream> {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    // Give the other threads a chance to be inside a run at the same time.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    --running;
    const std::lock_guard lock(mutex);
    const std::size_t i = static_cast<std::size_t>(a.name.back() - '0');
    return std::make_unique<testing::FakeServer>(drops[i], testing::FakeOptions{});
  };
  RunObserver quiet;
  const auto results = fetch_accounts(accounts, options, quiet, 2);
  ASSERT_EQ(results.size(), 5u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_FALSE(results[i].error) << results[i].error->what();
    EXPECT_EQ(results[i].fetched, i + 1) << i;
  }
  EXPECT_LE(most.load(), 2);
  EXPECT_EQ(exit_code_for(results), 0);
}

}  // namespace
}  // namespace postern::fetch
