#include "store/maildir_snapshot.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "store/dir_stamp.hpp"
#include "store/maildir_index.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildir_listing.hpp"
#include "store/message_size.hpp"
#include "store/natural_order.hpp"
#include "store/posix_io.hpp"
#include "store/printable.hpp"
#include "store/uidl.hpp"

namespace postern::store {
namespace {

constexpr std::size_t scan_chunk_bytes = std::size_t{128} * 1024;
// A directory this large (its st_size: some thousands of entries on ext4, xfs, btrfs, tmpfs) takes
// longer to list than the settle margin.
constexpr off_t big_directory_bytes = 128 * 1024;
// Reading sizes of unindexed messages: up to this many threads, one per this many files.
constexpr std::size_t max_parallel_readers = 16;
constexpr std::size_t files_per_reader = 64;

// Builds the UIDL of a message when it is matched, while its name is in cache: on 100,000 messages,
// cache misses are much of the cost after readdir.
class SnapshotBuilder {
 public:
  SnapshotBuilder(const std::filesystem::path& maildir, int cur_fd)
      : maildir_(maildir), cur_dir_(maildir / maildir_cur), cur_fd_(cur_fd) {}
  Snapshot build(bool cur_touched);

 private:
  void wait_until_settled() const;
  void adopt_index(const StoredIndex& index);
  void list_cur();
  void map_unique_names();
  void follow_index(const StoredIndex& index);
  void forget_order();
  void append_unindexed();
  void append(std::uint32_t file, std::uint64_t size);
  std::vector<std::optional<std::uint64_t>> measure_all(std::span<const std::uint32_t> files) const;
  std::optional<std::uint64_t> measure(std::uint32_t file, std::vector<char>& buffer) const;
  std::optional<DirStamp> stamp_worth_recording(const std::optional<DirStamp>& before,
                                                const timespec& listing_started) const;
  std::vector<IndexEntry> index_entries() const;

  const std::filesystem::path& maildir_;
  const std::filesystem::path cur_dir_;
  const int cur_fd_;
  Snapshot snapshot_;
  // Keys view snapshot_.files, which no longer grows once listed.
  std::unordered_map<std::string_view, std::uint32_t> by_unique_;
  std::vector<bool> listed_;  // by file: already in snapshot_.messages
  bool index_stale_ = false;
};

Snapshot SnapshotBuilder::build(bool cur_touched) {
  const StoredIndex index(maildir_);
  if (cur_touched) wait_until_settled();
  timespec listing_started{};
  ::clock_gettime(CLOCK_REALTIME, &listing_started);
  const std::optional<DirStamp> before = read_dir_stamp(cur_fd_);
  if (!cur_touched && before && index.cur_stamp() == before) {
    adopt_index(index);  // cur/ has not changed since the index listed it
    return std::move(snapshot_);
  }
  list_cur();
  map_unique_names();
  index_stale_ = !index.valid();
  follow_index(index);
  append_unindexed();
  const std::optional<DirStamp> stamp = stamp_worth_recording(before, listing_started);
  if (index_stale_ || stamp != index.cur_stamp()) write_index(maildir_, index_entries(), stamp);
  return std::move(snapshot_);
}

// Our own renames out of new/ just changed cur/: listing it now would give a list the index cannot
// stamp (see stamp_worth_recording), and the next login would list all of cur/ again. On a big
// cur/ that costs far more than waiting out the few milliseconds until the stamp is settled.
void SnapshotBuilder::wait_until_settled() const {
  struct stat st {};
  if (::fstat(cur_fd_, &st) != 0 || st.st_size < big_directory_bytes) return;
  const std::optional<DirStamp> stamp = read_dir_stamp(cur_fd_);
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  if (!stamp) return;
  const auto wait = time_to_settle(*stamp, now);
  if (wait > std::chrono::nanoseconds(0) && wait <= settle_margin)
    std::this_thread::sleep_for(wait);
}

void SnapshotBuilder::adopt_index(const StoredIndex& index) {
  listed_.resize(index.entries().size());
  snapshot_.messages.reserve(index.entries().size());
  snapshot_.file_of.reserve(index.entries().size());
  for (const IndexEntry& entry : index.entries())
    append(snapshot_.files.add(entry.file_name), entry.size);
}

void SnapshotBuilder::list_cur() {
  for_each_message_file(cur_fd_, cur_dir_, [this](std::string_view name) {
    if (unique_name_of(name).empty() || name.find('\n') != std::string_view::npos) {
      spdlog::warn("skipping {}: its name cannot be indexed",
                   printable((cur_dir_ / name).native()));
      return;
    }
    snapshot_.files.add(name);
  });
  listed_.resize(snapshot_.files.size());
}

void SnapshotBuilder::map_unique_names() {
  const FileNameList& files = snapshot_.files;
  by_unique_.reserve(files.size());
  for (std::uint32_t file = 0; file < files.size(); ++file) {
    const auto [it, added] = by_unique_.try_emplace(files.unique_name(file), file);
    if (added) continue;
    // Keep the one first in name order, so every session picks the same file.
    if (files.name(file) < files.name(it->second)) it->second = file;
    spdlog::warn("two files in {} share the unique name {}; listing only {}",
                 printable(cur_dir_.native()), printable(files.unique_name(file)),
                 printable(files.name(it->second)));
  }
}

void SnapshotBuilder::follow_index(const StoredIndex& index) {
  snapshot_.messages.reserve(by_unique_.size());
  snapshot_.file_of.reserve(by_unique_.size());
  for (const IndexEntry& entry : index.entries()) {
    const auto it = by_unique_.find(unique_name_of(entry.file_name));
    if (it == by_unique_.end()) {
      index_stale_ = true;  // deleted since
      continue;
    }
    const std::uint32_t file = it->second;
    if (listed_[file]) {
      spdlog::warn("maildir index of {} repeats {}; rebuilding it", printable(maildir_.native()),
                   printable(unique_name_of(entry.file_name)));
      forget_order();
      return;
    }
    append(file, entry.size);
  }
}

void SnapshotBuilder::forget_order() {
  for (const std::uint32_t file : snapshot_.file_of) listed_[file] = false;
  snapshot_.messages.clear();
  snapshot_.file_of.clear();
  index_stale_ = true;
}

void SnapshotBuilder::append_unindexed() {
  std::vector<std::uint32_t> fresh;
  for (const auto& [unique_name, file] : by_unique_)
    if (!listed_[file]) fresh.push_back(file);
  if (fresh.empty()) return;
  index_stale_ = true;
  const FileNameList& files = snapshot_.files;
  std::sort(fresh.begin(), fresh.end(), [&files](std::uint32_t a, std::uint32_t b) {
    return natural_less(files.unique_name(a), files.unique_name(b));
  });
  const std::vector<std::optional<std::uint64_t>> sizes = measure_all(fresh);
  for (std::size_t i = 0; i < fresh.size(); ++i)
    if (sizes[i]) append(fresh[i], *sizes[i]);
}

// Sizes from ,W= names where they have one; the rest read in parallel. Reading is the whole cost
// of a first login to a big maildrop whose names carry no size, and at queue depth one it waits
// on the disk for every file: with many reads in flight the disk overlaps them (on this project's
// test machine 16 readers read 20,000 cold files three times as fast as one).
std::vector<std::optional<std::uint64_t>> SnapshotBuilder::measure_all(
    std::span<const std::uint32_t> files) const {
  std::vector<std::optional<std::uint64_t>> sizes(files.size());
  std::vector<std::size_t> to_read;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (const auto named = crlf_size_from_name(snapshot_.files.name(files[i])))
      sizes[i] = named;
    else
      to_read.push_back(i);
  }
  std::atomic<std::size_t> next{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto reader = [&] {
    std::vector<char> buffer(scan_chunk_bytes);
    for (std::size_t k; (k = next.fetch_add(1)) < to_read.size();) {
      try {
        sizes[to_read[k]] = measure(files[to_read[k]], buffer);
      } catch (...) {
        const std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = to_read.size();  // stop the others too
      }
    }
  };
  const std::size_t readers =
      std::clamp<std::size_t>(to_read.size() / files_per_reader, 1, max_parallel_readers);
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 1; i < readers; ++i) threads.emplace_back(reader);
    reader();
  }  // joined
  if (failure) std::rethrow_exception(failure);
  return sizes;
}

void SnapshotBuilder::append(std::uint32_t file, std::uint64_t size) {
  listed_[file] = true;
  snapshot_.messages.push_back({uidl_for_unique_name(snapshot_.files.unique_name(file)), size});
  snapshot_.file_of.push_back(file);
}

// nullopt when the file vanished between readdir and now. Called from several threads at once.
std::optional<std::uint64_t> SnapshotBuilder::measure(std::uint32_t file,
                                                      std::vector<char>& buffer) const {
  const std::filesystem::path path = cur_dir_ / snapshot_.files.name(file);
  const UniqueFd fd(
      ::openat(cur_fd_, snapshot_.files.c_str(file), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::nullopt;
    throw errno_error(errno, "cannot open", path);
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  CrlfSizeCounter counter;
  while (const std::size_t n = read_some(fd.get(), buffer, path)) counter.feed({buffer.data(), n});
  return counter.size();
}

// The stamp taken before listing, if cur/ did not change during the listing and its last change was
// settled before the listing began: then any later change gives cur/ another stamp.
std::optional<DirStamp> SnapshotBuilder::stamp_worth_recording(
    const std::optional<DirStamp>& before, const timespec& listing_started) const {
  if (before && read_dir_stamp(cur_fd_) == before && is_settled(*before, listing_started))
    return before;
  return std::nullopt;
}

std::vector<IndexEntry> SnapshotBuilder::index_entries() const {
  std::vector<IndexEntry> entries;
  entries.reserve(snapshot_.messages.size());
  for (std::size_t i = 0; i < snapshot_.messages.size(); ++i)
    entries.push_back({snapshot_.files.name(snapshot_.file_of[i]), snapshot_.messages[i].size});
  return entries;
}

}  // namespace

Snapshot take_snapshot(const std::filesystem::path& maildir, int cur_fd, bool cur_touched) {
  return SnapshotBuilder(maildir, cur_fd).build(cur_touched);
}

}  // namespace postern::store
