#include "fetch/mbox_destination.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "fetch/error.hpp"
#include "fetch/spool.hpp"
#include "store/posix_io.hpp"

namespace postern::fetch {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view from_word = "From ";
constexpr auto stale_dotlock_age = std::chrono::minutes(5);
constexpr std::size_t copy_chunk = 64 * 1024;

// fcntl locks belong to the process, so two accounts' threads appending to one mbox would not
// exclude each other through it alone (nor when no dotlock can be made).
std::mutex mbox_append_mutex;

[[noreturn]] void local_error(int err, std::string_view action, const std::filesystem::path& p) {
  throw from_store_error(store::errno_error(err, action, p));
}

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

void pread_exact(int fd, char* out, std::size_t n, off_t offset, const std::filesystem::path& p) {
  while (n > 0) {
    const ssize_t got = ::pread(fd, out, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) local_error(got < 0 ? errno : EIO, "cannot read", p);
    out += got;
    n -= static_cast<std::size_t>(got);
    offset += got;
  }
}

void pwrite_all(int fd, std::string_view data, off_t offset, const std::filesystem::path& p) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) local_error(n < 0 ? errno : EIO, "cannot write", p);
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += n;
  }
}

off_t file_size(int fd, const std::filesystem::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) local_error(errno, "cannot stat", p);
  return st.st_size;
}

// The SHA-256 of bytes [from, to) of a file.
std::string hash_range(int fd, off_t from, off_t to, const std::filesystem::path& p) {
  Sha256Stream sha;
  std::vector<char> buf(copy_chunk);
  while (from < to) {
    const auto n = static_cast<std::size_t>(std::min<off_t>(to - from, copy_chunk));
    pread_exact(fd, buf.data(), n, from, p);
    sha.update(std::string_view(buf.data(), n));
    from += static_cast<off_t>(n);
  }
  return sha.hex();
}

void fsync_or_fail(int fd, const std::filesystem::path& p) {
  try {
    store::fsync_or_throw(fd, p);
  } catch (const store::StoreError& e) {
    throw from_store_error(e);
  }
}

void truncate_back(int fd, off_t offset, const std::filesystem::path& p) {
  if (::ftruncate(fd, offset) != 0) local_error(errno, "cannot truncate", p);
  fsync_or_fail(fd, p);
}

// The '\n's needed before a new "From " line so that the previous message ends with a blank
// line (mboxrd readers split at "\n\nFrom ").
std::size_t separator_needed(int fd, off_t size, const std::filesystem::path& p) {
  if (size == 0) return 0;
  char tail[2] = {0, 0};
  const std::size_t n = size >= 2 ? 2 : 1;
  pread_exact(fd, tail, n, size - static_cast<off_t>(n), p);
  if (n == 2 && tail[0] == '\n' && tail[1] == '\n') return 0;
  if (size == 1 && tail[0] == '\n') return 0;
  return tail[n - 1] == '\n' ? 1 : 2;
}

struct MboxIntent {
  off_t offset = 0;
  std::size_t separator = 0;
  off_t end = 0;
  std::string sha256;
  std::filesystem::path path;
};

std::string format_intent(const MboxIntent& i) {
  return fmt::format("mbox {} {} {} {} {}", i.offset, i.separator, i.end, i.sha256,
                     i.path.string());
}

bool parse_intent(std::string_view detail, MboxIntent& out) {
  if (!detail.starts_with("mbox ")) return false;
  detail.remove_prefix(5);
  std::int64_t numbers[3] = {0, 0, 0};
  for (auto& number : numbers) {
    const auto space = detail.find(' ');
    if (space == std::string_view::npos) return false;
    const auto [ptr, ec] = std::from_chars(detail.data(), detail.data() + space, number);
    if (ec != std::errc{} || ptr != detail.data() + space || number < 0) return false;
    detail.remove_prefix(space + 1);
  }
  const auto space = detail.find(' ');
  if (space != 64) return false;
  out.offset = static_cast<off_t>(numbers[0]);
  out.separator = static_cast<std::size_t>(numbers[1]);
  out.end = static_cast<off_t>(numbers[2]);
  out.sha256 = std::string(detail.substr(0, 64));
  out.path = std::string(detail.substr(65));
  return out.separator <= 2 && out.end >= out.offset && !out.path.empty();
}

class MboxDelivery final : public Delivery {
 public:
  MboxDelivery(std::filesystem::path mbox, const std::filesystem::path& spool)
      : mbox_(std::move(mbox)), spool_(open_spool(spool)) {
    add(mbox_from_line(std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()));
  }

  void write(std::string_view content) override {
    scratch_.clear();
    quoter_.feed(content, scratch_);
    add(scratch_);
  }

  void commit(const std::function<void(const std::string&)>& record_intent) override {
    scratch_.clear();
    quoter_.finish(scratch_);
    scratch_.push_back('\n');  // the blank line that ends an mbox message
    add(scratch_);
    spool_.flush();
    MboxIntent intent;
    intent.sha256 = sha_.hex();
    intent.path = mbox_;
    const std::lock_guard in_process(mbox_append_mutex);
    store::UniqueFd fd(::open(mbox_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) local_error(errno, "cannot open", mbox_);
    const MboxLock lock(fd.get(), mbox_);
    intent.offset = file_size(fd.get(), mbox_);
    intent.separator = separator_needed(fd.get(), intent.offset, mbox_);
    intent.end = intent.offset + static_cast<off_t>(intent.separator + spool_.size());
    record_intent(format_intent(intent));
    try {
      append(fd.get(), intent);
      fsync_or_fail(fd.get(), mbox_);
    } catch (const FetchError&) {
      // Nothing of it may stay: cut back to where the file ended.
      if (::ftruncate(fd.get(), intent.offset) == 0) ::fsync(fd.get());
      throw;
    }
  }

  void abort() noexcept override {}

 private:
  void add(std::string_view bytes) {
    spool_.write(bytes);
    sha_.update(bytes);
  }

  void append(int fd, const MboxIntent& intent) {
    off_t at = intent.offset;
    pwrite_all(fd, std::string(intent.separator, '\n'), at, mbox_);
    at += static_cast<off_t>(intent.separator);
    std::vector<char> buf(copy_chunk);
    off_t from = 0;
    const auto total = static_cast<off_t>(spool_.size());
    while (from < total) {
      const auto n = static_cast<std::size_t>(std::min<off_t>(total - from, copy_chunk));
      pread_exact(spool_.fd(), buf.data(), n, from, spool_.path());
      pwrite_all(fd, std::string_view(buf.data(), n), at, mbox_);
      from += static_cast<off_t>(n);
      at += static_cast<off_t>(n);
    }
  }

  std::filesystem::path mbox_;
  BufferedFile spool_;
  Sha256Stream sha_;
  MboxrdQuoter quoter_;
  std::string scratch_;
};

class MboxDestination final : public Destination {
 public:
  MboxDestination(std::filesystem::path mbox, std::filesystem::path spool)
      : mbox_(std::move(mbox)), spool_(std::move(spool)) {
    const auto parent = mbox_.parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent)) {
      throw FetchError(ErrorKind::failure,
                       fmt::format("the mbox's folder {} does not exist", parent.string()));
    }
  }
  std::string plan() override { return {}; }
  std::unique_ptr<Delivery> begin(const std::string&) override {
    return std::make_unique<MboxDelivery>(mbox_, spool_);
  }
  void sync() override {}  // every append is fsynced before commit() returns
  std::string describe() const override { return "mbox " + mbox_.string(); }

 private:
  std::filesystem::path mbox_;
  std::filesystem::path spool_;
};

// Whether the spool holds exactly the record of this intent and the file's bytes from offset
// on are a beginning of separator + record (an append cut short).
bool is_our_partial(int fd, off_t size, const MboxIntent& intent,
                    const std::filesystem::path& spool) {
  store::UniqueFd spool_fd(::open(spool.c_str(), O_RDONLY | O_CLOEXEC));
  if (!spool_fd.valid()) return false;
  const off_t spool_size = file_size(spool_fd.get(), spool);
  if (intent.offset + static_cast<off_t>(intent.separator) + spool_size != intent.end) return false;
  if (hash_range(spool_fd.get(), 0, spool_size, spool) != intent.sha256) return false;
  const off_t have = size - intent.offset;  // less than separator + record
  const auto separator = static_cast<off_t>(intent.separator);
  std::vector<char> mine(copy_chunk);
  std::vector<char> ours(copy_chunk);
  off_t pos = 0;  // relative to intent.offset
  while (pos < have) {
    if (pos < separator) {
      char c = 0;
      pread_exact(fd, &c, 1, intent.offset + pos, intent.path);
      if (c != '\n') return false;
      ++pos;
      continue;
    }
    const auto n = static_cast<std::size_t>(std::min<off_t>(have - pos, copy_chunk));
    pread_exact(fd, mine.data(), n, intent.offset + pos, intent.path);
    pread_exact(spool_fd.get(), ours.data(), n, pos - separator, spool);
    if (std::memcmp(mine.data(), ours.data(), n) != 0) return false;
    pos += static_cast<off_t>(n);
  }
  return true;
}

// Makes the dotlock with its content already in it (written to a private name, then link()ed
// into place), so that a process killed at any moment never leaves an empty, anonymous lock
// that only the 5-minute rule could clear. Returns 0 or the errno of the failure.
int create_dotlock(const std::filesystem::path& dotlock, const std::string& content) {
  const std::string tmp = fmt::format("{}.{}", dotlock.string(), ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return errno;
  const bool written =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(fd);
  const int rc = written ? ::link(tmp.c_str(), dotlock.c_str()) : -1;
  const int err = written ? errno : EIO;
  ::unlink(tmp.c_str());
  return rc == 0 ? 0 : err;
}

}  // namespace

void MboxrdQuoter::feed(std::string_view text, std::string& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    empty_ = false;
    if (matching_) {
      const char c = text[i];
      if (matched_ == 0 && c == '>') {
        ++quotes_;
        ++i;
        continue;
      }
      if (c == from_word[matched_]) {
        ++i;
        if (++matched_ == from_word.size()) {
          out.push_back('>');  // the one added '>' that mboxrd readers take away again
          out.append(quotes_, '>');
          out.append(from_word);
          last_ = ' ';
          matching_ = false;
        }
        continue;
      }
      // Not a From line: give back what was held.
      out.append(quotes_, '>');
      out.append(from_word.substr(0, matched_));
      if (quotes_ + matched_ > 0) last_ = out.back();
      matching_ = false;
    }
    const auto nl = text.find('\n', i);
    const std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    out.append(text.substr(i, end - i));
    last_ = text[end - 1];
    i = end;
    if (nl != std::string_view::npos) {
      matching_ = true;
      quotes_ = 0;
      matched_ = 0;
    }
  }
}

void MboxrdQuoter::finish(std::string& out) {
  if (matching_ && quotes_ + matched_ > 0) {
    out.append(quotes_, '>');
    out.append(from_word.substr(0, matched_));
    last_ = out.back();
  }
  if (!empty_ && last_ != '\n') out.push_back('\n');
  matching_ = true;
  quotes_ = 0;
  matched_ = 0;
}

std::string mbox_from_line(std::int64_t unix_time) {
  const time_t t = static_cast<time_t>(unix_time);
  tm utc{};
  ::gmtime_r(&t, &utc);
  char buf[64];
  ::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &utc);
  return fmt::format("From MAILER-DAEMON {}\n", buf);
}

MboxLock::MboxLock(int fd, std::filesystem::path mbox, unsigned wait_seconds)
    : fd_(fd), dotlock_(mbox.string() + ".lock") {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  const auto timed_out = [&] {
    if (std::chrono::steady_clock::now() < deadline) return false;
    throw FetchError(ErrorKind::temporary,
                     fmt::format("{} stays locked by another program", mbox.string()));
  };
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  while (::fcntl(fd_, F_SETLK, &fl) != 0) {
    if (errno == EINTR) continue;
    if (errno != EACCES && errno != EAGAIN) local_error(errno, "cannot lock", mbox);
    timed_out();
    std::this_thread::sleep_for(100ms);
  }
  const std::string me = fmt::format("{} {}\n", ::getpid(), host_name());
  while (true) {
    const int err = create_dotlock(dotlock_, me);
    if (err == 0) {
      have_dotlock_ = true;
      return;
    }
    if (err == EACCES || err == EROFS || err == EPERM) return;  // fcntl only
    if (err != EEXIST) {
      fl.l_type = F_UNLCK;
      ::fcntl(fd_, F_SETLK, &fl);
      local_error(err, "cannot create", dotlock_);
    }
    // Stale: old, or made by a process of this host that no longer exists.
    struct stat st {};
    bool stale = false;
    if (::stat(dotlock_.c_str(), &st) == 0) {
      const auto age =
          std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime);
      stale = age > stale_dotlock_age;
      char buf[300] = {};
      const int rfd = ::open(dotlock_.c_str(), O_RDONLY | O_CLOEXEC);
      if (rfd >= 0) {
        const ssize_t n = ::read(rfd, buf, sizeof buf - 1);
        ::close(rfd);
        std::string_view text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
        const auto space = text.find(' ');
        pid_t pid = 0;
        if (space != std::string_view::npos &&
            std::from_chars(text.data(), text.data() + space, pid).ec == std::errc{} && pid > 0 &&
            text.substr(space + 1) == host_name() + "\n" && ::kill(pid, 0) != 0 && errno == ESRCH) {
          stale = true;
        }
      }
    }
    if (stale) {
      ::unlink(dotlock_.c_str());
      continue;
    }
    try {
      timed_out();
    } catch (...) {
      fl.l_type = F_UNLCK;
      ::fcntl(fd_, F_SETLK, &fl);
      throw;
    }
    std::this_thread::sleep_for(100ms);
  }
}

MboxLock::~MboxLock() {
  if (have_dotlock_) ::unlink(dotlock_.c_str());
  struct flock fl {};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  ::fcntl(fd_, F_SETLK, &fl);
}

std::unique_ptr<Destination> make_mbox_destination(const std::filesystem::path& mbox,
                                                   const std::filesystem::path& spool) {
  return std::make_unique<MboxDestination>(mbox, spool);
}

Reconciled reconcile_mbox(std::string_view detail, const std::filesystem::path& spool,
                          std::string& note) {
  MboxIntent intent;
  if (!parse_intent(detail, intent)) {
    throw FetchError(ErrorKind::failure, fmt::format("damaged journal intent \"{}\"", detail));
  }
  const std::lock_guard in_process(mbox_append_mutex);
  store::UniqueFd fd(::open(intent.path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Reconciled::not_delivered;
    local_error(errno, "cannot open", intent.path);
  }
  const MboxLock lock(fd.get(), intent.path);
  const off_t size = file_size(fd.get(), intent.path);
  const off_t start = intent.offset + static_cast<off_t>(intent.separator);
  if (size >= intent.end && hash_range(fd.get(), start, intent.end, intent.path) == intent.sha256) {
    return Reconciled::delivered;
  }
  if (size <= intent.offset) {
    if (size < intent.offset) {
      note = fmt::format(
          "{} is shorter than when a delivery into it was interrupted (rewritten "
          "by a mail reader?); the message is delivered again",
          intent.path.string());
    }
    return Reconciled::not_delivered;
  }
  if (size < intent.end && is_our_partial(fd.get(), size, intent, spool)) {
    truncate_back(fd.get(), intent.offset, intent.path);
    return Reconciled::not_delivered;
  }
  note = fmt::format(
      "{}: an interrupted delivery left {} octets at offset {} that could not be "
      "identified; they are left as they are and the message is delivered again",
      intent.path.string(), size - intent.offset, intent.offset);
  return Reconciled::not_delivered;
}

}  // namespace postern::fetch
