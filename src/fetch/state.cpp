#include "fetch/state.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "fetch/capabilities.hpp"
#include "fetch/error.hpp"
#include "store/maildrop.hpp"
#include "store/posix_io.hpp"

namespace postern::fetch {
namespace {

constexpr std::string_view uidls_header = "postern-fetch-uidls 1";

[[noreturn]] void fail(std::string_view what) {
  throw FetchError(ErrorKind::failure, std::string(what));
}

// Local file errors keep store's temporary/permanent split (a full disk is temporary).
[[noreturn]] void rethrow_store(const store::StoreError& e) {
  throw FetchError(
      e.code() == store::StoreErrc::temporary ? ErrorKind::temporary : ErrorKind::failure,
      e.what());
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    const auto space = line.find(' ');
    out.push_back(line.substr(0, space));
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return out;
}

bool parse_int(std::string_view text, std::int64_t& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc{} && ptr == text.data() + text.size();
}

bool parse_kind(std::string_view text, bool& headers_only) {
  if (text == "full") {
    headers_only = false;
    return true;
  }
  if (text == "headers") {
    headers_only = true;
    return true;
  }
  return false;
}

std::string read_whole(const std::filesystem::path& file, bool& exists) {
  store::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  exists = fd.valid();
  if (!fd.valid()) {
    if (errno == ENOENT) return {};
    fail(store::errno_message(errno, "cannot open", file));
  }
  std::string text;
  char buf[64 * 1024];
  try {
    while (const std::size_t n = store::read_some(fd.get(), buf, file)) text.append(buf, n);
  } catch (const store::StoreError& e) {
    rethrow_store(e);
  }
  return text;
}

}  // namespace

void ensure_state_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(fmt::format("cannot create the state folder {}: {}", dir.string(), ec.message()));
  ::chmod(dir.c_str(), 0700);
}

DeliveredMap load_uidls(const std::filesystem::path& file) {
  bool exists = false;
  const std::string text = read_whole(file, exists);
  DeliveredMap out;
  if (!exists) return out;
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    if (nl == std::string::npos)
      fail(fmt::format("{}: the last line is incomplete", file.string()));
    const std::string_view line(text.data() + start, nl - start);
    start = nl + 1;
    ++line_no;
    if (line_no == 1) {
      if (line != uidls_header) {
        fail(fmt::format("{}:1: not a postern fetch state file (expected \"{}\")", file.string(),
                         uidls_header));
      }
      continue;
    }
    const auto parts = split_spaces(line);
    Delivered d;
    if (parts.size() != 3 || !is_valid_uidl(parts[0]) || !parse_int(parts[1], d.time) ||
        !parse_kind(parts[2], d.headers_only)) {
      fail(fmt::format("{}:{}: damaged line (expected \"UIDL TIME full|headers\")", file.string(),
                       line_no));
    }
    out[std::string(parts[0])] = d;
  }
  if (line_no == 0)
    fail(fmt::format("{}: empty file (expected \"{}\")", file.string(), uidls_header));
  return out;
}

void save_uidls(const std::filesystem::path& file, const DeliveredMap& delivered) {
  std::string text(uidls_header);
  text.push_back('\n');
  for (const auto& [uidl, d] : delivered) {
    text += fmt::format("{} {} {}\n", uidl, d.time, d.headers_only ? "headers" : "full");
  }
  const std::filesystem::path tmp = file.string() + ".tmp";
  try {
    store::UniqueFd fd(
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) throw store::errno_error(errno, "cannot create", tmp);
    store::write_all(fd.get(), text, tmp);
    store::fsync_or_throw(fd.get(), tmp);
    if (::rename(tmp.c_str(), file.c_str()) != 0)
      throw store::errno_error(errno, "cannot rename", tmp);
    store::fsync_directory(file.parent_path());
  } catch (const store::StoreError& e) {
    rethrow_store(e);
  }
}

std::string format_record(const JournalRecord& r) {
  const char* kind = r.headers_only ? "headers" : "full";
  switch (r.type) {
    case JournalRecord::Type::intent:
      return fmt::format("intent {} {} {}\n", r.uidl, kind, r.detail);
    case JournalRecord::Type::done: return fmt::format("done {} {} {}\n", r.uidl, r.time, kind);
    case JournalRecord::Type::abort: return fmt::format("abort {}\n", r.uidl);
  }
  return {};
}

std::optional<JournalRecord> parse_record(std::string_view line) {
  const auto parts = split_spaces(line);
  if (parts.size() < 2 || !is_valid_uidl(parts[1])) return std::nullopt;
  JournalRecord r;
  r.uidl = std::string(parts[1]);
  if (parts[0] == "intent" && parts.size() >= 4 && parse_kind(parts[2], r.headers_only)) {
    r.type = JournalRecord::Type::intent;
    // The detail is the rest of the line as written (it may hold spaces).
    r.detail = std::string(line.substr(parts[0].size() + parts[1].size() + parts[2].size() + 3));
    return r;
  }
  if (parts[0] == "done" && parts.size() == 4 && parse_int(parts[2], r.time) &&
      parse_kind(parts[3], r.headers_only)) {
    r.type = JournalRecord::Type::done;
    return r;
  }
  if (parts[0] == "abort" && parts.size() == 2) {
    r.type = JournalRecord::Type::abort;
    return r;
  }
  return std::nullopt;
}

Journal::Journal(std::filesystem::path file) : file_(std::move(file)) {
  fd_.reset(::open(file_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd_.valid()) fail(store::errno_message(errno, "cannot open", file_));
  bool exists = false;
  const std::string text = read_whole(file_, exists);
  if (!text.empty() && !text.ends_with('\n')) {
    // A crash inside write(2) left half a record: it never counted, so it goes.
    const auto keep = text.rfind('\n');
    const off_t length = keep == std::string::npos ? 0 : static_cast<off_t>(keep + 1);
    if (::ftruncate(fd_.get(), length) != 0)
      fail(store::errno_message(errno, "cannot truncate", file_));
    dirty_ = true;
  }
}

std::vector<JournalRecord> Journal::read(const std::filesystem::path& file) {
  bool exists = false;
  const std::string text = read_whole(file, exists);
  std::vector<JournalRecord> out;
  std::size_t start = 0;
  std::size_t line_no = 0;
  while (true) {
    const auto nl = text.find('\n', start);
    if (nl == std::string::npos) break;  // nothing, or a torn last line
    ++line_no;
    const std::string_view line(text.data() + start, nl - start);
    start = nl + 1;
    auto record = parse_record(line);
    if (!record) fail(fmt::format("{}:{}: damaged journal record", file.string(), line_no));
    out.push_back(std::move(*record));
  }
  return out;
}

void Journal::append(const JournalRecord& record) {
  try {
    store::write_all(fd_.get(), format_record(record), file_);
  } catch (const store::StoreError& e) {
    rethrow_store(e);
  }
  dirty_ = true;
}

void Journal::sync() {
  if (!dirty_) return;
  try {
    store::fsync_or_throw(fd_.get(), file_);
  } catch (const store::StoreError& e) {
    rethrow_store(e);
  }
  dirty_ = false;
}

void Journal::clear() {
  if (::ftruncate(fd_.get(), 0) != 0) fail(store::errno_message(errno, "cannot truncate", file_));
  dirty_ = true;
  sync();
}

JournalState replay(const std::vector<JournalRecord>& records) {
  JournalState state;
  for (const auto& r : records) state.last[r.uidl] = r;
  return state;
}

AccountLock::AccountLock(const std::filesystem::path& state_dir) {
  const auto file = state_dir / "lock";
  fd_.reset(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd_.valid()) fail(store::errno_message(errno, "cannot open", file));
  while (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      throw FetchError(ErrorKind::temporary,
                       fmt::format("another postern fetch is running for this account ({} is "
                                   "locked)",
                                   file.string()));
    }
    fail(store::errno_message(errno, "cannot lock", file));
  }
}

}  // namespace postern::fetch
