#include "store/maildir_index.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "store/maildir_layout.hpp"
#include "store/posix_io.hpp"
#include "store/printable.hpp"
#include "store/unique_fd.hpp"

namespace postern::store {
namespace {

// Format, one entry per line, the name last because it may hold spaces:
//   postern-maildir-index 1 <entry count> <cur/ stamp, or "-" when it was not settled>
//   <POP3 size> <file name in cur/>
// The count catches a file cut short at a line boundary.
constexpr std::string_view header_prefix = "postern-maildir-index 1 ";
constexpr std::string_view no_stamp = "-";
constexpr off_t max_index_bytes = off_t{1} << 30;  // far beyond any real maildrop: garbage

bool parse_number(std::string_view digits, std::uint64_t& out) {
  if (digits.empty() || digits.front() < '0' || digits.front() > '9') return false;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  return ec == std::errc{} && end == digits.data() + digits.size();
}

// The line starting at pos (without its '\n'), and pos moved past it; false if it has no '\n'.
bool next_line(std::string_view text, std::size_t& pos, std::string_view& line) {
  const auto end = text.find('\n', pos);
  if (end == std::string_view::npos) return false;
  line = text.substr(pos, end - pos);
  pos = end + 1;
  return true;
}

// The names become paths under cur/, so one that could lead elsewhere makes the index suspect.
bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name.front() != '.' && !unique_name_of(name).empty() &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

bool parse_entry(std::string_view line, IndexEntry& entry) {
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return false;
  entry.file_name = line.substr(space + 1);
  return parse_number(line.substr(0, space), entry.size) && is_plain_file_name(entry.file_name);
}

// "<count> <stamp or ->"
bool parse_header_rest(std::string_view rest, std::uint64_t& count,
                       std::optional<DirStamp>& stamp) {
  const auto space = rest.find(' ');
  if (space == std::string_view::npos || !parse_number(rest.substr(0, space), count)) return false;
  const std::string_view stamp_text = rest.substr(space + 1);
  if (stamp_text == no_stamp) return true;
  stamp = parse_dir_stamp(stamp_text);
  return stamp.has_value();
}

std::string render(std::span<const IndexEntry> entries, const std::optional<DirStamp>& cur_stamp) {
  std::string text = fmt::format("{}{} {}\n", header_prefix, entries.size(),
                                 cur_stamp ? to_string(*cur_stamp) : std::string(no_stamp));
  text.reserve(text.size() + entries.size() * 64);
  char digits[24];
  for (const IndexEntry& entry : entries) {
    const auto end = std::to_chars(digits, digits + sizeof digits, entry.size).ptr;
    text.append(digits, end).append(1, ' ').append(entry.file_name).append(1, '\n');
  }
  return text;
}

}  // namespace

StoredIndex::StoredIndex(const std::filesystem::path& maildir) {
  const std::filesystem::path path = maildir / maildir_index_file;
  valid_ = read(path) && parse(path);
  if (!valid_) {
    entries_.clear();
    cur_stamp_.reset();
  }
}

bool StoredIndex::read(const std::filesystem::path& path) {
  // O_NONBLOCK so that a FIFO planted under the index's name cannot hang the login.
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) {
    if (errno != ENOENT)
      spdlog::warn("ignoring maildir index: {}", errno_message(errno, "cannot open", path));
    return false;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > max_index_bytes) {
    spdlog::warn("ignoring maildir index {}: not a plausible index file", printable(path.native()));
    return false;
  }
  text_.resize(static_cast<std::size_t>(st.st_size));
  try {
    std::size_t filled = 0;
    while (filled < text_.size()) {
      const std::size_t n = read_some(fd.get(), std::span(text_).subspan(filled), path);
      if (n == 0) break;  // shorter than fstat said: the parse will tell whether it is whole
      filled += n;
    }
    text_.resize(filled);
  } catch (const StoreError& e) {
    spdlog::warn("ignoring maildir index: {}", e.what());
    return false;
  }
  return true;
}

bool StoredIndex::parse(const std::filesystem::path& path) {
  const std::string_view text = text_;
  std::size_t pos = 0;
  std::string_view line;
  std::uint64_t count = 0;
  bool ok = next_line(text, pos, line) && line.starts_with(header_prefix) &&
            parse_header_rest(line.substr(header_prefix.size()), count, cur_stamp_);
  if (ok) {
    // Each entry takes at least 4 bytes ("0 x\n"), which bounds the reservation for a forged count.
    entries_.reserve(std::min<std::uint64_t>(count, text.size() / 4));
    IndexEntry entry;
    while (ok && pos < text.size()) {
      ok = next_line(text, pos, line) && parse_entry(line, entry);
      if (ok) entries_.push_back(entry);
    }
    ok = ok && entries_.size() == count;
  }
  if (!ok)
    spdlog::warn("ignoring damaged or foreign maildir index {}; rebuilding it",
                 printable(path.native()));
  return ok;
}

void write_index(const std::filesystem::path& maildir, std::span<const IndexEntry> entries,
                 const std::optional<DirStamp>& cur_stamp) {
  const std::filesystem::path path = maildir / maildir_index_file;
  std::filesystem::path tmp = path;
  tmp += ".tmp";  // one writer at a time: we hold the maildrop lock
  try {
    const UniqueFd fd(
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) throw errno_error(errno, "cannot create", tmp);
    write_all(fd.get(), render(entries, cur_stamp), tmp);
    // No fsync: a cache lost in a crash is rebuilt, and rename keeps readers from half a file.
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw errno_error(errno, "cannot rename into", path);
  } catch (const StoreError& e) {
    spdlog::warn("maildir index not updated ({}); the next login rebuilds it", e.what());
    ::unlink(tmp.c_str());
  }
}

}  // namespace postern::store
