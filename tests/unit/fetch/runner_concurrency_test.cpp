// fetch_accounts with several accounts at once sharing what accounts can share: one mbox file,
// one Maildir, MDA children started while other threads run, and the one progress reporter.
// Every message must arrive exactly once, whatever the interleaving.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fake_server.hpp"
#include "fetch/reporter.hpp"
#include "fetch/runner.hpp"
#include "support/temp_dir.hpp"

namespace postern::fetch {
namespace {

namespace fs = std::filesystem;
using postern::test_support::read_file;
using postern::test_support::TempDir;
using postern::test_support::write_file;

constexpr std::size_t account_count = 9;
constexpr std::size_t messages_per_account = 6;

std::string message_text(std::size_t account, std::size_t n) {
  return "Subject: account " + std::to_string(account) + " message " + std::to_string(n) +
         "\r\n\r\nbody " + std::string(n * 300, 'x') + "\r\n";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// Everything under `dir` (new/ and cur/ of a Maildir, or a folder of MDA files), concatenated.
std::string all_files(const fs::path& dir) {
  std::string out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) out += read_file(entry.path());
  }
  return out;
}

TEST(RunnerConcurrency, AccountsShareOneMboxOneMaildirAndTheReporter) {
  TempDir dir;
  write_file(dir / "pw", "secret\n");
  fs::permissions(dir / "pw", fs::perms::owner_read);
  fs::create_directories(dir / "mda-out");
  std::vector<testing::FakeMaildrop> drops(account_count);
  std::vector<Account> accounts;
  for (std::size_t i = 0; i < account_count; ++i) {
    for (std::size_t n = 1; n <= messages_per_account; ++n) {
      drops[i].messages.push_back(
          {"u" + std::to_string(i) + "-" + std::to_string(n), message_text(i, n)});
    }
    Account a;
    a.name = "acct" + std::to_string(i);
    a.host = "h" + std::to_string(i);
    a.user = "alice";
    a.password = {PasswordSource::Kind::file, (dir / "pw").string()};
    a.state_dir = dir / ("state" + std::to_string(i));
    a.mode = i % 2 == 0 ? RemoteMode::remove : RemoteMode::keep;
    switch (i % 3) {
      case 0:
        a.deliver = DeliverTo::mbox;
        a.deliver_path = dir / "mbox";
        break;
      case 1:
        a.deliver = DeliverTo::maildir;
        a.deliver_path = dir / "Maildir";
        break;
      default:
        a.deliver = DeliverTo::mda;
        a.mda_command = "f=$(mktemp '" + (dir / "mda-out").string() + "/m.XXXXXX') && cat > \"$f\"";
        break;
    }
    accounts.push_back(a);
  }
  RunOptions options;
  options.window = 3;
  // Called on the accounts' threads; each touches only its own account's drop.
  options.connect = [&drops](const Account& a) -> std::unique_ptr<Stream> {
    const std::size_t i = std::stoul(a.name.substr(4));
    auto server = std::make_unique<testing::FakeServer>(drops[i], testing::FakeOptions{});
    server->set_chunk(1000 + 97 * i);  // replies arrive in pieces of different sizes
    return server;
  };
  std::FILE* progress = std::tmpfile();
  ASSERT_NE(progress, nullptr);
  TerminalReporter reporter(progress, /*progress=*/true, /*quiet=*/false);
  const auto results = fetch_accounts(accounts, options, reporter, 4);
  reporter.finish();
  std::fclose(progress);

  ASSERT_EQ(results.size(), account_count);
  for (std::size_t i = 0; i < account_count; ++i) {
    ASSERT_FALSE(results[i].error) << i << ": " << results[i].error->what();
    EXPECT_EQ(results[i].fetched, messages_per_account) << i;
    EXPECT_EQ(results[i].deleted, i % 2 == 0 ? messages_per_account : 0u) << i;
    EXPECT_EQ(drops[i].messages.size(), i % 2 == 0 ? 0u : messages_per_account) << i;
  }
  const std::string mbox = read_file(dir / "mbox");
  const std::string maildir = all_files(dir / "Maildir");
  const std::string mda = all_files(dir / "mda-out");
  for (std::size_t i = 0; i < account_count; ++i) {
    const std::string& where = i % 3 == 0 ? mbox : i % 3 == 1 ? maildir : mda;
    for (std::size_t n = 1; n <= messages_per_account; ++n) {
      const std::string subject =
          "Subject: account " + std::to_string(i) + " message " + std::to_string(n) + "\n";
      EXPECT_EQ(count_of(where, subject), 1u) << subject;
    }
  }
  // One "From " separator line per message: no append was torn by another.
  EXPECT_EQ(count_of(mbox, "\nFrom ") + (mbox.starts_with("From ") ? 1 : 0),
            messages_per_account * 3);
}

}  // namespace
}  // namespace postern::fetch
