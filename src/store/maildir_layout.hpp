// The fixed shape of a Maildir as postern uses it: the three standard folders, postern's own files
// beside them, and the rule that a file's unique name is everything before its first ':'.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace postern::store {

inline constexpr const char* maildir_tmp = "tmp";
// A file in tmp/ older than this is an abandoned delivery (the Maildir convention: 36 hours).
inline constexpr std::chrono::hours stale_tmp_age{36};
inline constexpr const char* maildir_new = "new";
inline constexpr const char* maildir_cur = "cur";
inline constexpr const char* maildir_lock_file = "postern.lock";
inline constexpr const char* maildir_index_file = "postern-index";

// Creates tmp/, new/ and cur/ (and any missing parent) with mode 0700 where missing; cheap when
// they all exist. Throws StoreError naming the directory that could not be made.
void ensure_maildir(const std::filesystem::path& maildir);

// "1700000000.M1P2Q3.host,S=10:2,S" -> "1700000000.M1P2Q3.host,S=10": flags come after the ':'.
inline std::string_view unique_name_of(std::string_view file_name) {
  return file_name.substr(0, file_name.find(':'));
}

}  // namespace postern::store

namespace postern::store {

// The ",W=<octets>" field of a file name (Dovecot's and postern's deliveries write it): the size
// of the message in CRLF form, what POP3 reports. nullopt when absent or not a plain number.
// Trusting it lets a first login size 100,000 messages without reading them, as Dovecot does.
std::optional<std::uint64_t> crlf_size_from_name(std::string_view file_name);

// This host's name for unique Maildir names, with '/', ':' and ' ' written as \057, \072 and
// \040 (the Maildir escapes), so it can neither make a path, start the flags nor split a
// space-separated record. "localhost" when the name cannot be read.
std::string maildir_host_name();

}  // namespace postern::store
