// A directory's change stamp (device, inode, ctime): lets a warm open trust the index's file list
// instead of reading cur/ again, which on 100,000 messages is most of the cost of a login.
#pragma once

#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace postern::store {

// Adding, removing or renaming an entry sets the directory's ctime to the current time, and nothing
// can set it back. Two equal stamps therefore mean an unchanged entry list, with one caveat:
// changes in the same clock tick share a ctime, so a stamp is worth recording only once it is
// settled. (A system clock stepped back by more than a second could defeat that; the cost would be
// a stale list until cur/ next changes, i.e. a message missing or one that reports having
// vanished.)
struct DirStamp {
  unsigned long long device = 0;
  unsigned long long inode = 0;
  long long ctime_sec = 0;
  long long ctime_nsec = 0;
  bool operator==(const DirStamp&) const = default;
};

std::optional<DirStamp> read_dir_stamp(int dir_fd);

// How much older than a change's ctime the clock must be before any later change is sure to get
// another ctime (file systems with nanosecond stamps; whole-second ones get two seconds).
inline constexpr std::chrono::milliseconds settle_margin{50};
// True when the ctime is old enough that any later change gets another one.
bool is_settled(const DirStamp& stamp, const timespec& now);
// 0 when settled, else how long until it is.
std::chrono::nanoseconds time_to_settle(const DirStamp& stamp, const timespec& now);

std::string to_string(const DirStamp& stamp);  // "device:inode:sec.nsec"
std::optional<DirStamp> parse_dir_stamp(std::string_view text);

}  // namespace postern::store
