// The engine end to end against the in-memory server: keep, delete, keep_days, size limits,
// pipelining, TLS policy, logins, failures, and a run stopped dead at every step it has,
// after which the next run must leave every message stored exactly once.
#include "fetch/fetch_run.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "fake_server.hpp"
#include "fetch/error.hpp"
#include "fetch/state.hpp"
#include "support/temp_dir.hpp"

namespace postern::fetch {
namespace {

namespace fs = std::filesystem;
using postern::test_support::read_file;
using postern::test_support::TempDir;
using postern::test_support::write_file;
using testing::FakeMaildrop;
using testing::FakeMessage;
using testing::FakeOptions;
using testing::FakeServer;

struct SimulatedCrash {};  // not a std::exception: nothing in the engine catches it

class Recorder : public RunObserver {
 public:
  void dialogue(const Account&, std::string_view line) override { lines.emplace_back(line); }
  void note(const Account&, std::string_view text) override { notes.emplace_back(text); }
  std::vector<std::string> lines;
  std::vector<std::string> notes;
};

std::string lf(std::string_view crlf) {
  std::string out;
  for (std::size_t i = 0; i < crlf.size(); ++i) {
    if (crlf[i] == '\r' && i + 1 < crlf.size() && crlf[i + 1] == '\n') continue;
    out.push_back(crlf[i]);
  }
  return out;
}

std::vector<FakeMessage> make_messages(std::size_t n) {
  std::vector<FakeMessage> out;
  for (std::size_t i = 1; i <= n; ++i) {
    std::string body = "Subject: message " + std::to_string(i) + "\r\nFrom: a@example.org\r\n\r\n";
    body += ".a line with a dot\r\nFrom the start\r\n>From quoted\r\n";
    body += std::string(i * 37 % 300, 'x') + "\r\n";
    if (i % 3 == 0) body += std::string(70000, 'y') + "\r\n";  // over one read
    out.push_back({"uidl-" + std::to_string(i * 7919), body});
  }
  return out;
}

// Splits an mboxrd file into messages, undoing the quoting.
std::vector<std::string> read_mbox(const fs::path& file) {
  std::vector<std::string> out;
  if (!fs::exists(file)) return out;
  const std::string text = read_file(file);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  std::string current;
  bool in_message = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.starts_with("From ") && (i == 0 || lines[i - 1].empty())) {
      if (in_message) out.push_back(current.substr(0, current.size() - 1));  // the blank line
      current.clear();
      in_message = true;
      continue;
    }
    std::string content = line;
    const auto first = content.find_first_not_of('>');
    if (first != std::string::npos && first > 0 && content.compare(first, 5, "From ") == 0) {
      content.erase(0, 1);
    }
    current += content + "\n";
  }
  if (in_message) out.push_back(current.substr(0, current.size() - 1));
  return out;
}

std::vector<std::string> read_maildir(const fs::path& md) {
  std::vector<std::string> out;
  for (const char* sub : {"new", "cur"}) {
    if (!fs::is_directory(md / sub)) continue;
    for (const auto& e : fs::directory_iterator(md / sub)) out.push_back(read_file(e.path()));
  }
  return out;
}

std::vector<std::string> read_dir_files(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(read_file(e.path()));
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// One account against one in-memory server, in a private directory.
struct Harness {
  Harness() {
    drop.messages = make_messages(5);
    write_file(dir / "password", "secret\n");
    fs::permissions(dir / "password", fs::perms::owner_read | fs::perms::owner_write);
    account.name = "test";
    account.host = "fake.example";
    account.port = 995;
    account.tls = TlsMode::implicit;
    account.user = "alice";
    account.password = {PasswordSource::Kind::file, (dir / "password").string()};
    account.deliver = DeliverTo::maildir;
    account.deliver_path = dir / "Mail";
    account.state_dir = dir / "state";
  }

  AccountResult run(std::function<void(std::string_view)> step = {}, bool dry_run = false) {
    RunOptions o;
    o.clock = [this] { return now; };
    o.connect = [this](const Account&) {
      auto server = std::make_unique<FakeServer>(drop, options);
      server->set_chunk(chunk);
      return server;
    };
    o.step = std::move(step);
    o.dry_run = dry_run;
    o.verbose = true;
    return fetch_account(account, o, recorder);
  }

  // Runs until a run ends without error (at most 4 times); returns the last result.
  AccountResult run_to_completion() {
    AccountResult r;
    for (int i = 0; i < 4; ++i) {
      r = run();
      if (!r.error) return r;
    }
    ADD_FAILURE() << "no clean run: " << r.error->what();
    return r;
  }

  std::vector<std::string> expected_local(const std::vector<FakeMessage>& messages) const {
    std::vector<std::string> out;
    for (const auto& m : messages) out.push_back(lf(m.content));
    return sorted(out);
  }

  std::vector<std::string> local() const {
    switch (account.deliver) {
      case DeliverTo::maildir: return sorted(read_maildir(account.deliver_path));
      case DeliverTo::mbox: return sorted(read_mbox(account.deliver_path));
      case DeliverTo::mda: return sorted(read_dir_files(dir / "mda-out"));
    }
    return {};
  }

  std::size_t count(std::string_view prefix) const {
    return static_cast<std::size_t>(
        std::count_if(drop.commands.begin(), drop.commands.end(),
                      [prefix](const std::string& c) { return c.starts_with(prefix); }));
  }

  TempDir dir;
  FakeMaildrop drop;
  FakeOptions options;
  Account account;
  Recorder recorder;
  std::int64_t now = 1700000000;
  std::size_t chunk = 1 << 20;
};

class FetchRun : public ::testing::Test, public Harness {};

TEST_F(FetchRun, KeepModeFetchesEachMessageOnceAndLeavesTheServerAlone) {
  const auto originals = drop.messages;
  chunk = 7;  // every reply arrives in small pieces
  auto r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(r.fetched, 5u);
  EXPECT_EQ(r.listed, 5u);
  EXPECT_EQ(local(), expected_local(originals));
  EXPECT_EQ(drop.messages.size(), 5u);
  EXPECT_EQ(count("DELE"), 0u);
  const auto state = load_uidls(account.state_dir / "uidls");
  EXPECT_EQ(state.size(), 5u);
  EXPECT_EQ(read_file(account.state_dir / "journal"), "");

  r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(r.fetched, 0u);
  EXPECT_EQ(count("RETR"), 5u);
  EXPECT_EQ(local(), expected_local(originals));

  // A new message arrives: only it is fetched.
  drop.messages.push_back({"uidl-new", "Subject: new\r\n\r\nnew\r\n"});
  r = run();
  EXPECT_EQ(r.fetched, 1u);
  EXPECT_EQ(count("RETR"), 6u);
}

TEST_F(FetchRun, PipelinesRetrWhenOfferedAndOnlyThen) {
  drop.messages = make_messages(20);
  auto r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_GE(drop.max_batch, 8u);  // a window of RETRs went out together

  FakeMaildrop other;
  other.messages = make_messages(20);
  drop = other;
  options.capabilities = {"TOP", "UIDL", "USER", "SASL PLAIN"};
  fs::remove_all(account.state_dir);
  r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(r.fetched, 20u);
  EXPECT_EQ(drop.max_batch, 1u);
}

TEST_F(FetchRun, DeleteModeEmptiesTheServerAndForgetsTheUidls) {
  const auto originals = drop.messages;
  account.mode = RemoteMode::remove;
  auto r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(r.fetched, 5u);
  EXPECT_EQ(r.deleted, 5u);
  EXPECT_TRUE(drop.messages.empty());
  EXPECT_EQ(local(), expected_local(originals));
  EXPECT_TRUE(load_uidls(account.state_dir / "uidls").empty());
}

TEST_F(FetchRun, KeepDaysDeletesOnlyOnceTheyAreOldEnough) {
  account.keep_days = 2;
  ASSERT_FALSE(run().error);
  EXPECT_EQ(drop.messages.size(), 5u);
  now += 86400;
  auto r = run();
  EXPECT_EQ(r.deleted, 0u);
  drop.messages.push_back({"late", "Subject: late\r\n\r\nx\r\n"});
  now += 86400;  // two days after the first five, one after "late"
  r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(r.fetched, 1u);
  EXPECT_EQ(r.deleted, 5u);
  ASSERT_EQ(drop.messages.size(), 1u);
  EXPECT_EQ(drop.messages[0].uidl, "late");
  EXPECT_EQ(local().size(), 6u);
}

TEST_F(FetchRun, OversizeSkipAndHeaders) {
  drop.messages = {{"small", "Subject: s\r\n\r\nsmall\r\n"},
                   {"big", "Subject: b\r\nX: y\r\n\r\n" + std::string(5000, 'z') + "\r\n"}};
  account.max_size = 1000;
  auto r = run();
  EXPECT_EQ(r.fetched, 1u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(local().size(), 1u);

  account.oversize = Oversize::headers;
  r = run();
  EXPECT_EQ(r.headers_only, 1u);
  EXPECT_EQ(count("TOP 2 0"), 1u);
  EXPECT_EQ(sorted(local()), sorted({"Subject: s\n\nsmall\n", "Subject: b\nX: y\n\n"}));
  EXPECT_TRUE(load_uidls(account.state_dir / "uidls").at("big").headers_only);

  r = run();  // nothing again
  EXPECT_EQ(r.headers_only + r.fetched, 0u);

  account.max_size.reset();  // the limit is lifted: now the whole message comes
  r = run();
  EXPECT_EQ(r.fetched, 1u);
  EXPECT_EQ(local().size(), 3u);
  EXPECT_FALSE(load_uidls(account.state_dir / "uidls").at("big").headers_only);
}

TEST_F(FetchRun, HeadersOnlyMessagesAreNeverDeleted) {
  drop.messages = {{"big", "Subject: b\r\n\r\n" + std::string(5000, 'z') + "\r\n"}};
  account.mode = RemoteMode::remove;
  account.max_size = 1000;
  account.oversize = Oversize::headers;
  EXPECT_FALSE(run().error);
  EXPECT_FALSE(run().error);
  EXPECT_EQ(drop.messages.size(), 1u);
  EXPECT_EQ(count("DELE"), 0u);
}

TEST_F(FetchRun, WithoutUidlKeepModeRefusesAndDeleteModeWorks) {
  options.uidl = false;
  auto r = run();
  ASSERT_TRUE(r.error);
  EXPECT_NE(std::string(r.error->what()).find("does not support UIDL"), std::string::npos);
  EXPECT_EQ(count("RETR"), 0u);
  account.mode = RemoteMode::remove;
  const auto originals = drop.messages;
  r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(r.fetched, 5u);
  EXPECT_TRUE(drop.messages.empty());
  EXPECT_EQ(local(), expected_local(originals));
}

TEST_F(FetchRun, StlsRequiredButMissingIsRefusedBeforeAnyLogin) {
  account.tls = TlsMode::starttls;
  auto r = run();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::failure);
  EXPECT_NE(std::string(r.error->what()).find("does not offer STLS"), std::string::npos);
  EXPECT_EQ(drop.commands, (std::vector<std::string>{"CAPA"}));
}

TEST_F(FetchRun, StlsUsedAndInjectedPlaintextDiscarded) {
  account.tls = TlsMode::starttls;
  options.stls = true;
  // A man in the middle appends a fake CAPA answer right after +OK: it must be dropped.
  options.after_stls_garbage = "+OK caps\r\nUSER\r\n.\r\n";
  auto r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(r.fetched, 5u);
  ASSERT_GE(drop.commands.size(), 3u);
  EXPECT_EQ(drop.commands[1], "STLS");
  EXPECT_EQ(drop.commands[2], "CAPA");
}

TEST_F(FetchRun, NoPasswordInClearWithoutPermission) {
  account.tls = TlsMode::none;
  auto r = run();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::auth);
  EXPECT_EQ(count("PASS"), 0u);
  EXPECT_EQ(count("AUTH"), 0u);
  account.allow_plaintext = true;
  r = run();
  EXPECT_FALSE(r.error);
  EXPECT_EQ(count("AUTH PLAIN"), 1u);
}

TEST_F(FetchRun, ScramIsPreferredAndProvesTheServer) {
  options.capabilities = {"UIDL", "USER", "PIPELINING", "SASL PLAIN SCRAM-SHA-256"};
  auto r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(count("AUTH SCRAM-SHA-256 "), 1u);
  EXPECT_EQ(count("AUTH PLAIN"), 0u);
}

TEST_F(FetchRun, ScramPlusWhenTheTlsSessionCanBind) {
  options.capabilities = {"UIDL", "SASL SCRAM-SHA-256-PLUS SCRAM-SHA-256"};
  options.tls_exporter = std::string(32, '\x17');
  auto r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(count("AUTH SCRAM-SHA-256-PLUS "), 1u);
}

TEST_F(FetchRun, WrongPasswordIsAnAuthErrorAndMasksThePassword) {
  write_file(dir / "password", "wrong-password\n");
  options.capabilities = {"UIDL", "USER"};
  auto r = run();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::auth);
  EXPECT_EQ(exit_code_of(r.error->kind()), 77);
  EXPECT_NE(std::string(r.error->what()).find("-ERR [AUTH]"), std::string::npos);
  for (const auto& line : recorder.lines) {
    EXPECT_EQ(line.find("wrong-password"), std::string::npos) << line;
  }
  EXPECT_NE(std::find(recorder.lines.begin(), recorder.lines.end(), "C: PASS ****"),
            recorder.lines.end());
}

TEST_F(FetchRun, ScramFailureFallsBackToPlainOnceOverTls) {
  write_file(dir / "password", "wrong\n");
  options.capabilities = {"UIDL", "SASL SCRAM-SHA-256 PLAIN"};
  auto r = run();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::auth);
  EXPECT_EQ(count("AUTH SCRAM-SHA-256"), 1u);
  EXPECT_EQ(count("AUTH PLAIN"), 1u);
  EXPECT_EQ(count("USER"), 0u);
}

TEST_F(FetchRun, MaildropInUseIsTemporary) {
  write_file(dir / "password", "wrong\n");
  options.login_error = "-ERR [IN-USE] maildrop locked";
  auto r = run();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::temporary);
  EXPECT_EQ(count("AUTH") + count("PASS"), 1u);  // no second method for a busy maildrop
}

TEST_F(FetchRun, AMessageTheServerWillNotSendIsRetriedNextRun) {
  options.retr_fails = {3};
  auto r = run();
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.fetched, 4u);
  EXPECT_EQ(r.message_errors, 1u);
  options.retr_fails.clear();
  r = run();
  EXPECT_EQ(r.fetched, 1u);
  EXPECT_EQ(local().size(), 5u);
}

TEST_F(FetchRun, FailedQuitDeletesNothingAndTheNextRunDeletesWithoutRefetching) {
  account.mode = RemoteMode::remove;
  options.quit_fails = true;
  auto r = run();
  EXPECT_EQ(r.fetched, 5u);
  EXPECT_EQ(r.deleted, 0u);
  EXPECT_EQ(drop.messages.size(), 5u);
  options.quit_fails = false;
  r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(r.fetched, 0u);
  EXPECT_EQ(r.deleted, 5u);
  EXPECT_TRUE(drop.messages.empty());
  EXPECT_EQ(local().size(), 5u);
}

TEST_F(FetchRun, DryRunChangesNothing) {
  account.max_size = 1000;
  auto r = run({}, true);
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(count("RETR"), 0u);
  EXPECT_TRUE(local().empty());
  ASSERT_EQ(r.plan.size(), 5u);
  EXPECT_EQ(r.plan[0].action, PlannedAction::fetch);
  EXPECT_EQ(r.plan[2].action, PlannedAction::skip);  // message 3 is over 70 000 octets
  EXPECT_FALSE(fs::exists(account.deliver_path));
}

TEST_F(FetchRun, DuplicateUidlsOnTheServerAreLeftAlone) {
  drop.messages[1].uidl = drop.messages[0].uidl;
  auto r = run();
  EXPECT_EQ(r.fetched, 4u);
  ASSERT_EQ(recorder.notes.size(), 1u) << recorder.notes.back();
  EXPECT_NE(recorder.notes[0].find("same UIDL"), std::string::npos) << recorder.notes[0];
}

TEST_F(FetchRun, PasswordFileOthersCanReadGetsANote) {
  fs::permissions(dir / "password", fs::perms::group_read, fs::perm_options::add);
  ASSERT_FALSE(run().error);
  ASSERT_EQ(recorder.notes.size(), 1u);
  EXPECT_NE(recorder.notes[0].find("chmod 600"), std::string::npos) << recorder.notes[0];
}

TEST_F(FetchRun, SecondRunOnTheSameAccountIsTurnedAway) {
  ensure_state_dir(account.state_dir);
  AccountLock held(account.state_dir);
  auto r = run();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::temporary);
  EXPECT_EQ(drop.sessions, 0u);
}

TEST_F(FetchRun, MboxAndMdaDestinations) {
  const auto originals = drop.messages;
  account.deliver = DeliverTo::mbox;
  account.deliver_path = dir / "inbox";
  ASSERT_FALSE(run().error);
  EXPECT_EQ(local(), expected_local(originals));

  fs::remove_all(account.state_dir);
  fs::create_directories(dir / "mda-out");
  account.deliver = DeliverTo::mda;
  account.mda_command = "f=$(mktemp '" + (dir / "mda-out").string() + "/m.XXXXXX') && cat > \"$f\"";
  auto r = run();
  ASSERT_FALSE(r.error) << r.error->what();
  EXPECT_EQ(local(), expected_local(originals));
}

TEST_F(FetchRun, MdaDeferralStopsTheAccountAndNothingIsLost) {
  fs::create_directories(dir / "mda-out");
  account.deliver = DeliverTo::mda;
  account.mode = RemoteMode::remove;
  // Defers the third message it sees, once.
  write_file(dir / "count", "");
  account.mda_command = "echo x >> '" + (dir / "count").string() + "'; if [ $(wc -l < '" +
                        (dir / "count").string() + "') -eq 3 ]; then exit 75; fi; f=$(mktemp '" +
                        (dir / "mda-out").string() + "/m.XXXXXX') && cat > \"$f\"";
  const auto originals = drop.messages;
  auto r = run();
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind(), ErrorKind::temporary);
  EXPECT_EQ(drop.messages.size(), 5u);  // nothing deleted: the run stopped before DELE
  r = run_to_completion();
  EXPECT_TRUE(drop.messages.empty());
  EXPECT_EQ(local(), expected_local(originals));
  for (const auto& note : recorder.notes) EXPECT_EQ(note.find("twice"), std::string::npos) << note;
}

// The heart of it: stop a run dead at each step it takes, then run again until it completes.
// Every message must be stored exactly once; delete mode leaves the server empty, keep mode
// leaves it whole and a further run fetches nothing.
struct CrashCase {
  const char* name;
  DeliverTo deliver;
  RemoteMode mode;
  bool pipelining;
};

void PrintTo(const CrashCase& c, std::ostream* os) {
  *os << c.name;
}

class CrashAtEveryStep : public FetchRun, public ::testing::WithParamInterface<CrashCase> {};

TEST_P(CrashAtEveryStep, ExactlyOnce) {
  const CrashCase& c = GetParam();
  const auto setup = [&](Harness& t) {
    t.account.deliver = c.deliver;
    t.account.mode = c.mode;
    if (c.deliver == DeliverTo::mbox) t.account.deliver_path = t.dir / "inbox";
    if (c.deliver == DeliverTo::mda) {
      fs::create_directories(t.dir / "mda-out");
      t.account.mda_command =
          "f=$(mktemp '" + (t.dir / "mda-out").string() + "/m.XXXXXX') && cat > \"$f\"";
    }
    if (!c.pipelining) t.options.capabilities = {"TOP", "UIDL", "USER"};
  };
  setup(*this);
  std::vector<std::string> steps;
  ASSERT_FALSE(run([&](std::string_view s) { steps.emplace_back(s); }).error);
  ASSERT_GT(steps.size(), 10u);

  for (std::size_t crash_at = 0; crash_at < steps.size(); ++crash_at) {
    Harness t;
    setup(t);
    const auto originals = t.drop.messages;
    std::size_t seen = 0;
    bool crashed = false;
    try {
      t.run([&](std::string_view) {
        if (seen++ == crash_at) throw SimulatedCrash{};
      });
    } catch (const SimulatedCrash&) {
      crashed = true;
    }
    ASSERT_TRUE(crashed) << "step " << crash_at;
    const auto final_run = t.run_to_completion();
    const std::string where = std::string(c.name) + ", crash at step " + std::to_string(crash_at) +
                              " (" + steps[crash_at] + ")";
    const auto stored = t.local();
    if (c.deliver == DeliverTo::mda) {
      // At-least-once: nothing lost, at most the one message in flight twice.
      auto unique = stored;
      unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
      EXPECT_EQ(unique, t.expected_local(originals)) << where;
      EXPECT_LE(stored.size(), originals.size() + 1) << where;
    } else {
      EXPECT_EQ(stored, t.expected_local(originals)) << where;
    }
    if (c.mode == RemoteMode::remove) {
      EXPECT_TRUE(t.drop.messages.empty()) << where;
    } else {
      EXPECT_EQ(t.drop.messages.size(), originals.size()) << where;
      const auto again = t.run();
      EXPECT_EQ(again.fetched, 0u) << where;
    }
    EXPECT_EQ(read_file(t.account.state_dir / "journal"), "") << where;
    (void)final_run;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Destinations, CrashAtEveryStep,
    ::testing::Values(CrashCase{"maildir-keep", DeliverTo::maildir, RemoteMode::keep, true},
                      CrashCase{"maildir-delete", DeliverTo::maildir, RemoteMode::remove, true},
                      CrashCase{"maildir-delete-serial", DeliverTo::maildir, RemoteMode::remove,
                                false},
                      CrashCase{"mbox-keep", DeliverTo::mbox, RemoteMode::keep, true},
                      CrashCase{"mbox-delete", DeliverTo::mbox, RemoteMode::remove, true},
                      CrashCase{"mda-delete", DeliverTo::mda, RemoteMode::remove, true}),
    [](const auto& param_info) {
      std::string name = param_info.param.name;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

}  // namespace
}  // namespace postern::fetch
