#include "store/dir_stamp.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <charconv>

namespace postern::store {
namespace {

// Parses digits up to stop (or the end when stop is '\0') and moves text past the stop character.
template <typename Number>
bool take_number(std::string_view& text, char stop, Number& out) {
  const auto end = stop == '\0' ? text.size() : text.find(stop);
  if (end == 0 || end == std::string_view::npos || text.front() < '0' || text.front() > '9')
    return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, out);
  if (ec != std::errc{} || ptr != text.data() + end) return false;
  text.remove_prefix(stop == '\0' ? end : end + 1);
  return true;
}

}  // namespace

std::optional<DirStamp> read_dir_stamp(int dir_fd) {
  struct stat st {};
  if (::fstat(dir_fd, &st) != 0) return std::nullopt;
  return DirStamp{st.st_dev, st.st_ino, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
}

std::chrono::nanoseconds time_to_settle(const DirStamp& stamp, const timespec& now) {
  using std::chrono::nanoseconds;
  using std::chrono::seconds;
  // Nanosecond time stamps are taken from the kernel's coarse clock, which moves every tick (at
  // most 10 ms). A file system that keeps whole seconds only (nsec always 0) gets two seconds.
  const nanoseconds margin = stamp.ctime_nsec != 0 ? settle_margin : nanoseconds(seconds(2));
  const nanoseconds age =
      seconds(now.tv_sec - stamp.ctime_sec) + nanoseconds(now.tv_nsec - stamp.ctime_nsec);
  return age > margin ? nanoseconds(0) : margin - age + nanoseconds(1);
}

bool is_settled(const DirStamp& stamp, const timespec& now) {
  return time_to_settle(stamp, now) == std::chrono::nanoseconds(0);
}

std::string to_string(const DirStamp& stamp) {
  return fmt::format("{}:{}:{}.{:09}", stamp.device, stamp.inode, stamp.ctime_sec,
                     stamp.ctime_nsec);
}

std::optional<DirStamp> parse_dir_stamp(std::string_view text) {
  DirStamp stamp;
  if (take_number(text, ':', stamp.device) && take_number(text, ':', stamp.inode) &&
      take_number(text, '.', stamp.ctime_sec) && take_number(text, '\0', stamp.ctime_nsec) &&
      text.empty())
    return stamp;
  return std::nullopt;
}

}  // namespace postern::store
