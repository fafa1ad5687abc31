// What postern fetch remembers per account, in the account's state folder:
//
//   lock     flock()ed for the whole run: one postern fetch per account at a time; the kernel
//            drops it when the process dies, so a killed run never blocks the next.
//   uidls    the messages already delivered, rewritten atomically (tmp, fsync, rename, fsync of
//            the folder) at the end of each run:
//              postern-fetch-uidls 1
//              <uidl> <delivered: unix seconds> <full|headers>
//   journal  append-only, one line per event, since the last rewrite of uidls:
//              intent <uidl> <full|headers> <destination detail...>   before the message can
//                     become visible locally (fsynced before that moment)
//              done <uidl> <unix seconds> <full|headers>   after the local copy is durable
//              abort <uidl>   the delivery failed and left nothing behind
//            A torn last line (a crash inside write) is ignored and cut off.
//
// On start the journal is replayed over uidls; an intent without done or abort is settled by
// the destination (found locally: delivered; else not, and fetched again); then uidls is
// rewritten and the journal emptied.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/unique_fd.hpp"

namespace postern::fetch {

struct Delivered {
  std::int64_t time = 0;      // when it was delivered (unix seconds), for keep_days
  bool headers_only = false;  // oversize = "headers": only TOP n 0 was delivered
};

using DeliveredMap = std::map<std::string, Delivered, std::less<>>;

// Reads uidls; a missing file is an empty map. Throws FetchError (failure) as "FILE:LINE: ..."
// for a damaged file, which is never guessed around: it decides what is fetched again.
DeliveredMap load_uidls(const std::filesystem::path& file);
// tmp file, fsync, rename over `file`, fsync of the folder.
void save_uidls(const std::filesystem::path& file, const DeliveredMap& delivered);

struct JournalRecord {
  enum class Type { intent, done, abort };
  Type type = Type::intent;
  std::string uidl;
  bool headers_only = false;  // intent, done
  std::int64_t time = 0;      // done
  std::string detail;         // intent: the destination's words (e.g. "maildir NAME")
};

std::string format_record(const JournalRecord& record);  // one line with its '\n'
std::optional<JournalRecord> parse_record(std::string_view line);

class Journal {
 public:
  // Opens (creating) the journal for appending, after cutting off a torn last line.
  explicit Journal(std::filesystem::path file);

  // Every complete record in the file, in order. Throws FetchError (failure) naming the line
  // of a complete but malformed record.
  static std::vector<JournalRecord> read(const std::filesystem::path& file);

  void append(const JournalRecord& record);  // one write(2), not yet durable
  void sync();                               // fsync if anything was appended since the last
  void clear();                              // truncate to empty, durably
  bool dirty() const { return dirty_; }

 private:
  std::filesystem::path file_;
  store::UniqueFd fd_;
  bool dirty_ = false;
};

// What the journal says about each UIDL it mentions: the last record wins.
struct JournalState {
  std::map<std::string, JournalRecord, std::less<>> last;  // uidl -> its last record
};
JournalState replay(const std::vector<JournalRecord>& records);

// The per-account lock. Throws FetchError (temporary) when another run holds it.
class AccountLock {
 public:
  explicit AccountLock(const std::filesystem::path& state_dir);

 private:
  store::UniqueFd fd_;
};

// Creates the state folder (and parents) with mode 0700. Throws FetchError (failure).
void ensure_state_dir(const std::filesystem::path& dir);

}  // namespace postern::fetch
