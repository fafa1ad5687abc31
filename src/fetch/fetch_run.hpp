// One account, one run: settle what an earlier run left in the journal, connect, log in, list,
// fetch what is new (pipelined when the server offers PIPELINING), delete what the mode says,
// QUIT, and fold the journal into the uidls file. See state.hpp for the files and
// destination.hpp for how each message becomes visible exactly once.
//
// The order that makes "never lost, never twice" hold whenever the process dies:
//   1. the intent is in the journal and fsynced before a message can become visible locally;
//   2. a message is renamed into new/ (or appended to the mbox) only complete and fsynced;
//   3. "done" follows; DELE is sent only after every delivered message is durable (fsync of
//      new/, of the journal) — so only for messages whose delivery is on disk;
//   4. a UIDL leaves the state only when the server no longer lists it, so a crash between
//      DELE and a committed QUIT just means the next run sends DELE again;
//   5. on restart, an intent without "done" is looked up where it would be (reconcile_intent).
// Exceptions to exactly-once, by nature: an MDA (at-least-once: see mda_destination.hpp) and a
// server without UIDL (delete mode only; a crash after delivery and before QUIT fetches those
// messages again next run).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetch/account.hpp"
#include "fetch/error.hpp"
#include "fetch/state.hpp"
#include "fetch/stream.hpp"

namespace postern::fetch {

// What a run reports as it goes (the progress bar, --verbose); every method may be called from
// the account's own thread, several accounts at once.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // After the listing: how many messages and octets this run will download.
  virtual void started(const Account&, std::size_t /*messages*/, std::uint64_t /*octets*/) {}
  // Octets of message data received so far in this run.
  virtual void received(const Account&, std::uint64_t /*octets*/) {}
  virtual void delivered(const Account&) {}
  // A protocol line ("C: USER alice", "S: +OK"), passwords masked; only with verbose.
  virtual void dialogue(const Account&, std::string_view /*line*/) {}
  // Something the user should read even when nothing failed.
  virtual void note(const Account&, std::string_view /*text*/) {}
};

struct RunOptions {
  bool dry_run = false;
  bool verbose = false;    // RunObserver::dialogue is called
  std::size_t window = 8;  // RETRs in flight with PIPELINING
  // Unix seconds now; tests fix the clock for keep_days.
  std::function<std::int64_t()> clock;
  // Opens the connection; empty: TCP (+ TLS for implicit) to the account's server. Tests give a
  // fake server here.
  std::function<std::unique_ptr<Stream>(const Account&)> connect;
  // Called at named moments: "recovered", "logged-in", then per message "received" (all data
  // in the private copy), "intent" (mbox: the intent with the offset is durable), "committed"
  // (visible and durable locally), "done" (journaled); then "dele-sent", "quit", "uidls-saved".
  // Tests throw from it to stop a run dead at that point.
  std::function<void(std::string_view step)> step;
};

enum class PlannedAction { fetch, headers, skip, remove, keep };
struct PlannedMessage {
  std::uint64_t number = 0;
  std::string uidl;  // empty when the server has no UIDL
  std::uint64_t size = 0;
  PlannedAction action = PlannedAction::fetch;
};

struct AccountResult {
  std::string label;  // user@host
  std::size_t listed = 0;
  std::size_t fetched = 0;         // full messages delivered
  std::size_t headers_only = 0;    // delivered as headers (oversize = "headers")
  std::size_t skipped = 0;         // over max_size, not fetched
  std::size_t deleted = 0;         // DELE committed by QUIT
  std::size_t message_errors = 0;  // messages the server would not send
  std::uint64_t octets = 0;        // message data received
  std::optional<FetchError> error;
  std::vector<PlannedMessage> plan;  // filled by dry runs
};

// Never throws for account-level problems: they end up in result.error.
AccountResult fetch_account(const Account& account, const RunOptions& options,
                            RunObserver& observer);

// Step 5 alone, for tests and for the start of every run: settles the journal in state_dir into
// `delivered` and, when the journal was not empty, rewrites uidls and empties the journal.
// Notes for the user go to `notes`.
void recover_journal(const std::filesystem::path& state_dir, DeliveredMap& delivered,
                     std::int64_t now, std::vector<std::string>& notes);

}  // namespace postern::fetch
