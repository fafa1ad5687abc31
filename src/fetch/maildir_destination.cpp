#include "fetch/maildir_destination.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <map>
#include <set>
#include <vector>

#include "fetch/error.hpp"
#include "fetch/spool.hpp"
#include "store/maildir_layout.hpp"
#include "store/posix_io.hpp"

namespace postern::fetch {
namespace {

std::atomic<std::uint64_t> name_counter{0};

// "maildir NAME PATH" -> NAME and PATH (the path may hold spaces: it is the rest).
bool split_detail(std::string_view detail, std::string& name, std::filesystem::path& path) {
  if (!detail.starts_with("maildir ")) return false;
  detail.remove_prefix(8);
  const auto space = detail.find(' ');
  if (space == std::string_view::npos || space == 0) return false;
  name = std::string(detail.substr(0, space));
  path = std::string(detail.substr(space + 1));
  return !path.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

bool exists_at(int dir_fd, const std::string& name) {
  struct stat st {};
  return ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// The unique names in cur/ (a mail reader turns new/NAME into cur/NAME:2,flags).
std::set<std::string, std::less<>> names_in_cur(const std::filesystem::path& cur) {
  DIR* dir = ::opendir(cur.c_str());
  if (dir == nullptr) {
    throw FetchError(ErrorKind::temporary, store::errno_message(errno, "cannot list", cur));
  }
  std::set<std::string, std::less<>> names;
  while (const dirent* entry = ::readdir(dir)) {
    names.emplace(store::unique_name_of(entry->d_name));
  }
  ::closedir(dir);
  return names;
}

// What the deliveries of one destination share: whether new/ needs an fsync, and which
// finished messages a syncfs() has already made durable.
struct MaildirProgress {
  bool renamed = false;
  std::uint64_t finished = 0;        // messages finished so far (each gets the next number)
  std::uint64_t synced_through = 0;  // messages 1..this are durable in tmp/
};

class MaildirDelivery final : public Delivery {
 public:
  MaildirDelivery(int tmp_fd, int new_fd, std::filesystem::path maildir, std::string name,
                  MaildirProgress& progress)
      : tmp_fd_(tmp_fd),
        new_fd_(new_fd),
        maildir_(std::move(maildir)),
        name_(std::move(name)),
        file_(open_tmp(), maildir_ / store::maildir_tmp / name_),
        progress_(progress) {}

  ~MaildirDelivery() override {
    if (!committed_) abort();
  }

  void write(std::string_view content) override { file_.write(content); }
  void finish() override {
    file_.release_buffer();
    number_ = ++progress_.finished;
  }

  void commit(const std::function<void(const std::string&)>&) override {
    // The content must be durable before the name in new/ is: after a power cut a file there
    // must be whole. A batch's syncfs() may have done it already.
    if (number_ == 0 || number_ > progress_.synced_through) file_.fsync();
    if (::renameat2(tmp_fd_, name_.c_str(), new_fd_, name_.c_str(), RENAME_NOREPLACE) != 0) {
      throw from_store_error(
          store::errno_error(errno, "cannot rename into", maildir_ / store::maildir_new / name_));
    }
    committed_ = true;
    progress_.renamed = true;
  }

  void abort() noexcept override {
    if (committed_ || aborted_) return;
    aborted_ = true;
    ::unlinkat(tmp_fd_, name_.c_str(), 0);
  }

 private:
  store::UniqueFd open_tmp() {
    store::UniqueFd fd(::openat(tmp_fd_, name_.c_str(),
                                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) {
      throw from_store_error(
          store::errno_error(errno, "cannot create", maildir_ / store::maildir_tmp / name_));
    }
    return fd;
  }

  int tmp_fd_;
  int new_fd_;
  std::filesystem::path maildir_;
  std::string name_;
  BufferedFile file_;
  MaildirProgress& progress_;
  std::uint64_t number_ = 0;
  bool committed_ = false;
  bool aborted_ = false;
};

class MaildirDestination final : public Destination {
 public:
  explicit MaildirDestination(std::filesystem::path maildir) : maildir_(std::move(maildir)) {
    try {
      store::ensure_maildir(maildir_);
      tmp_fd_ = store::open_directory(maildir_ / store::maildir_tmp);
      new_fd_ = store::open_directory(maildir_ / store::maildir_new);
    } catch (const store::StoreError& e) {
      throw from_store_error(e);
    }
  }

  std::string plan() override {
    return fmt::format("maildir {} {}", make_maildir_name(), maildir_.string());
  }

  std::unique_ptr<Delivery> begin(const std::string& planned) override {
    std::string name;
    std::filesystem::path path;
    if (!split_detail(planned, name, path)) {
      throw FetchError(ErrorKind::failure, "internal error: bad Maildir plan " + planned);
    }
    return std::make_unique<MaildirDelivery>(tmp_fd_.get(), new_fd_.get(), maildir_,
                                             std::move(name), progress_);
  }

  // One syncfs() for a batch of messages written to tmp/ a moment ago: a single journal commit
  // of the file system instead of one per file.
  void prepare_commits() override {
    if (progress_.finished == progress_.synced_through) return;
    if (::syncfs(tmp_fd_.get()) != 0) {
      throw from_store_error(
          store::errno_error(errno, "cannot sync", maildir_ / store::maildir_tmp));
    }
    progress_.synced_through = progress_.finished;
  }

  void sync() override {
    if (!progress_.renamed) return;
    try {
      store::fsync_or_throw(new_fd_.get(), maildir_ / store::maildir_new);
    } catch (const store::StoreError& e) {
      throw from_store_error(e);
    }
    progress_.renamed = false;
  }

  std::size_t commit_batch() const override { return 64; }
  std::string describe() const override { return "Maildir " + maildir_.string(); }

 private:
  std::filesystem::path maildir_;
  store::UniqueFd tmp_fd_;
  store::UniqueFd new_fd_;
  MaildirProgress progress_;
};

}  // namespace

std::string make_maildir_name() {
  static const std::string host = store::maildir_host_name();
  timeval now{};
  ::gettimeofday(&now, nullptr);
  return fmt::format("{}.M{}P{}Q{}.{}", now.tv_sec, now.tv_usec, ::getpid(),
                     name_counter.fetch_add(1, std::memory_order_relaxed) + 1, host);
}

std::unique_ptr<Destination> make_maildir_destination(const std::filesystem::path& maildir) {
  return std::make_unique<MaildirDestination>(maildir);
}

std::vector<Reconciled> reconcile_maildir(const std::vector<std::string_view>& details) {
  struct Intent {
    std::string name;
    std::filesystem::path maildir;
  };
  std::vector<Intent> intents;
  for (const auto detail : details) {
    Intent intent;
    if (!split_detail(detail, intent.name, intent.maildir)) {
      throw FetchError(ErrorKind::failure, fmt::format("damaged journal intent \"{}\"", detail));
    }
    intents.push_back(std::move(intent));
  }
  std::vector<Reconciled> out(intents.size(), Reconciled::not_delivered);
  std::map<std::filesystem::path, std::vector<std::size_t>> by_maildir;
  for (std::size_t i = 0; i < intents.size(); ++i) by_maildir[intents[i].maildir].push_back(i);
  for (const auto& [maildir, members] : by_maildir) {
    store::UniqueFd new_fd;
    store::UniqueFd tmp_fd;
    try {
      store::ensure_maildir(maildir);
      new_fd = store::open_directory(maildir / store::maildir_new);
      tmp_fd = store::open_directory(maildir / store::maildir_tmp);
    } catch (const store::StoreError& e) {
      throw from_store_error(e);
    }
    // First new/ for every intent, then cur/ listed once: a message a mail reader moves from
    // new/ to cur/ meanwhile is seen in one place or the other, never missed.
    std::vector<std::size_t> missing;
    bool found = false;
    for (const std::size_t i : members) {
      // Not yet renamed: the copy in tmp/ may be incomplete, and is fetched again.
      ::unlinkat(tmp_fd.get(), intents[i].name.c_str(), 0);
      if (exists_at(new_fd.get(), intents[i].name)) {
        out[i] = Reconciled::delivered;
        found = true;
      } else {
        missing.push_back(i);
      }
    }
    if (!missing.empty()) {
      const auto cur = names_in_cur(maildir / store::maildir_cur);
      for (const std::size_t i : missing) {
        if (cur.contains(intents[i].name)) {
          out[i] = Reconciled::delivered;
          found = true;
        }
      }
    }
    if (!found) continue;
    // Found, but the rename may not be durable yet: make it so before it is relied on.
    try {
      store::fsync_or_throw(new_fd.get(), maildir / store::maildir_new);
    } catch (const store::StoreError& e) {
      throw from_store_error(e);
    }
  }
  return out;
}

}  // namespace postern::fetch
