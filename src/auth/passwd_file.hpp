// The passwd-file passdb: Dovecot's "user:{SCHEME}secret:uid:gid:gecos:home:shell:extra" format,
// held in memory and re-read when the file changes, so user edits apply without a restart.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/passdb.hpp"

namespace postern::auth {

class PasswdFileError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses one line. nullopt for blank lines and '#' comments; missing trailing fields are empty.
// Everything after the 7th ':' is the extra-fields part (it may itself hold ':', as in
// "userdb_mail=maildir:~/Maildir"), split on spaces into UserRecord::extra.
// Throws PasswdFileError for a line no login could use (empty or invalid user name).
std::optional<UserRecord> parse_passwd_line(std::string_view line);

class PasswdFile final : public Passdb {
 public:
  // recheck_interval bounds how often a lookup stat()s the file; tests pass 0ms.
  explicit PasswdFile(std::filesystem::path path,
                      std::chrono::milliseconds recheck_interval = std::chrono::seconds(1));

  // Reads the file now, strictly: throws PasswdFileError naming the file (and the line, for a
  // bad line) so that check-config and server start fail loudly. Later re-reads skip bad lines.
  void load();

  AuthResult verify(std::string_view user, std::string_view password) override;
  std::optional<UserRecord> lookup(std::string_view user) override;
  std::size_t user_count();
  const std::filesystem::path& path() const;

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Table = std::unordered_map<std::string, UserRecord, NameHash, std::equal_to<>>;

  // What identifies one version of the file; a change in any of these means re-read.
  struct FileStamp {
    std::uintmax_t device = 0;
    std::uintmax_t inode = 0;
    std::intmax_t size = 0;
    std::intmax_t mtime_sec = 0;
    long mtime_nsec = 0;
    bool operator==(const FileStamp&) const = default;
  };
  static FileStamp stamp_of(const struct stat& st);

  enum class Strictness { throw_on_bad_line, skip_bad_line };

  std::shared_ptr<const Table> current_table();
  bool recheck_due();
  void refresh();
  void read_and_install(Strictness strictness);
  Table parse_table(std::string_view text, Strictness strictness) const;

  const std::filesystem::path path_;
  const std::chrono::milliseconds recheck_interval_;

  std::mutex reload_mutex_;  // one reader of the file at a time; guards stamp_
  std::optional<FileStamp> stamp_;
  std::string last_error_;  // logged once, not once per recheck

  // Guards the two below; held only for a copy or a swap, never while reading or hashing.
  std::mutex table_mutex_;
  std::shared_ptr<const Table> table_;  // null until the file was read once
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace postern::auth
