// Where fetched messages go: a Maildir, an mbox file or an MDA command. Each message is first
// written somewhere private (a file in the Maildir's tmp/, or the account's spool file), so
// nothing partial is ever visible; commit() then makes it visible and durable in one step that
// the journal brackets:
//
//   plan()          the intent's detail when it can be fixed before the message arrives
//                   (Maildir: the file name); the engine journals it, durably, before it sends
//                   RETR. Empty for mbox (the offset is known only under lock) and MDA (the
//                   intent is journaled right before the command runs).
//   begin(detail)   a Delivery for one message; write() streams its content (LF line ends),
//                   finish() ends it; commits of finished messages may be batched
//                   (commit_batch()), which changes nothing in the order below.
//   commit(record)  Maildir: fsync, rename into new/. mbox: lock, record(detail) journals the
//                   intent with the offset, append, fsync, unlock. MDA: record("mda"), run the
//                   command with the message on stdin; exit 0 is delivered, 75 is "try later".
//   sync()          makes earlier commits durable (Maildir: fsync of new/); called before DELE
//                   and before the uidls file is rewritten.
//
// reconcile_intent() settles an intent a crash left without "done" or "abort": it looks for
// the message where the detail says it would be and removes partial traces.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fetch/account.hpp"

namespace postern::fetch {

class Delivery {
 public:
  virtual ~Delivery() = default;
  virtual void write(std::string_view content) = 0;
  // The whole message is in the private copy (written out, not yet fsynced). Cheap: commits may
  // be batched after it.
  virtual void finish() {}
  // Throws FetchError; after a throw nothing of the message is visible (mbox: truncated back).
  virtual void commit(const std::function<void(const std::string& detail)>& record_intent) = 0;
  // The message will not be committed (the download broke): remove the private copy.
  virtual void abort() noexcept = 0;
};

class Destination {
 public:
  virtual ~Destination() = default;
  virtual std::string plan() = 0;
  virtual std::unique_ptr<Delivery> begin(const std::string& planned) = 0;
  virtual void sync() = 0;
  // True when "done" must be durable at once because the destination cannot be asked later
  // (MDA): it narrows the window in which a crash makes a message arrive twice.
  virtual bool done_must_be_durable() const { return false; }
  // How many finished messages the engine may hold before committing them together. Maildir
  // batches: fsyncing files written a moment ago one after the other costs a fraction of
  // fsyncing each right after it was written (one journal commit serves many).
  virtual std::size_t commit_batch() const { return 1; }
  // Called before a batch of finished messages is committed: Maildir makes them all durable
  // with one syncfs(2), so that commit() need not fsync each.
  virtual void prepare_commits() {}
  virtual std::string describe() const = 0;  // "Maildir /home/a/Maildir"
};

// Creates the Maildir (tmp/, new/, cur/) or the mbox's folder check now, so a bad path fails
// before any message is fetched. spool: the account's private file for mbox and MDA.
std::unique_ptr<Destination> make_destination(const Account& account,
                                              const std::filesystem::path& spool);

enum class Reconciled { delivered, not_delivered };

// Settles the intents a crash left open (up to a chunk of them), in order of `details`.
// notes[i]: a sentence for the user when the outcome deserves one (an MDA delivery that may
// now happen twice, a partial mbox append that could not be removed), else empty.
std::vector<Reconciled> reconcile_intents(const std::vector<std::string>& details,
                                          const std::filesystem::path& spool,
                                          std::vector<std::string>& notes);

}  // namespace postern::fetch
