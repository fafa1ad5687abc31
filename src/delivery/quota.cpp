// Quota fields of a passwd-file line, and the usage of a maildir counted from its file names.
#include "delivery/quota.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <string_view>

#include "config/config.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildir_listing.hpp"
#include "store/posix_io.hpp"

namespace postern::delivery {
namespace {

std::optional<std::uint64_t> parse_count(std::string_view text) {
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

[[noreturn]] void bad_field(std::string_view field, std::string_view problem) {
  throw std::invalid_argument(fmt::format("quota field \"{}\": {}", field, problem));
}

// A limit value as Dovecot writes it. `bare_unit` is what a number without a unit counts in:
// kilobytes for "storage" (Dovecot's rule), bytes elsewhere.
std::uint64_t parse_limit_size(std::string_view field, std::string_view value,
                               std::uint64_t bare_unit) {
  if (value.find('%') != std::string_view::npos) {
    bad_field(field, "percentage limits are not supported; give an absolute size like 1G");
  }
  if (value.starts_with('+') || value.starts_with('-')) {
    bad_field(field, "relative limits (+/-) are not supported; give an absolute size like 1G");
  }
  if (const auto count = parse_count(value)) {
    if (*count > UINT64_MAX / bare_unit)
      bad_field(field, fmt::format("\"{}\" is too large", value));
    return *count * bare_unit;
  }
  try {
    return config::parse_size(value);
  } catch (const std::invalid_argument& e) {
    bad_field(field, e.what());
  }
}

std::uint64_t parse_limit_count(std::string_view field, std::string_view value) {
  if (value.find('%') != std::string_view::npos) {
    bad_field(field, "percentage limits are not supported; give a message count");
  }
  const auto count = parse_count(value);
  if (!count) bad_field(field, fmt::format("\"{}\" is not a message count", value));
  return *count;
}

// "quota_rule", "quota_rule2", "quota_rule3" ...
bool is_rule_key(std::string_view key) {
  if (!key.starts_with("quota_rule")) return false;
  key.remove_prefix(std::string_view("quota_rule").size());
  return key.find_first_not_of("0123456789") == std::string_view::npos;
}

// "<mailbox>:<limit>[:<limit>...]" with limits storage=, bytes= and messages=. Only the rules for
// every mailbox ("*", or Dovecot's "?") apply: postern's maildrop is a single INBOX, and rules for
// other folders (the usual "Trash:storage=+100M") describe folders it does not have.
void apply_rule(std::string_view field, std::string_view rule, Quota& quota) {
  const auto colon = rule.find(':');
  if (colon == std::string_view::npos) {
    bad_field(field, "expected \"<mailbox>:<limits>\" like \"*:storage=1G\"");
  }
  const std::string_view mailbox = rule.substr(0, colon);
  if (mailbox != "*" && mailbox != "?") return;
  std::string_view limits = rule.substr(colon + 1);
  if (limits == "ignore" || limits.starts_with("backend=")) {
    bad_field(field, fmt::format("\"{}\" is not supported; use storage= and messages=", limits));
  }
  while (true) {
    const auto end = limits.find(':');
    const std::string_view limit = limits.substr(0, end);
    const auto eq = limit.find('=');
    const std::string_view name = limit.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : limit.substr(eq + 1);
    if (eq == std::string_view::npos || value.empty()) {
      bad_field(field,
                fmt::format("\"{}\" is not a limit like storage=1G or messages=5000", limit));
    }
    if (name == "storage") {
      quota.bytes = parse_limit_size(field, value, 1024);
    } else if (name == "bytes") {
      quota.bytes = parse_limit_size(field, value, 1);
    } else if (name == "messages") {
      quota.messages = parse_limit_count(field, value);
    } else {
      bad_field(field, fmt::format("unknown limit \"{}\" (storage, bytes or messages)", name));
    }
    if (end == std::string_view::npos) break;
    limits.remove_prefix(end + 1);
  }
}

// The size in the name ("...,S=1234,W=1260:2,S"), when the delivering program put one there.
std::optional<std::uint64_t> size_from_name(std::string_view name) {
  std::string_view unique = store::unique_name_of(name);
  const auto at = unique.find(",S=");
  if (at == std::string_view::npos) return std::nullopt;
  unique.remove_prefix(at + 3);
  return parse_count(unique.substr(0, unique.find(',')));
}

// Adds the messages of one folder; a missing folder adds nothing.
void add_folder_usage(const std::filesystem::path& dir, Usage& usage) {
  store::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return;
    throw store::errno_error(errno, "cannot open directory", dir);
  }
  store::for_each_message_file(fd.get(), dir, [&](std::string_view name) {
    std::uint64_t size = 0;
    if (const auto from_name = size_from_name(name)) {
      size = *from_name;
    } else {
      struct stat st {};
      const std::string file(name);
      // Gone since readdir (a POP3 session deleted it): it no longer counts.
      if (::fstatat(fd.get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
      size = static_cast<std::uint64_t>(st.st_size);
    }
    usage.bytes += size;
    ++usage.messages;
  });
}

}  // namespace

Quota quota_from_fields(const std::vector<std::string>& extra, const Quota& defaults) {
  Quota quota = defaults;
  for (const std::string& field : extra) {
    const auto eq = field.find('=');
    if (eq == std::string::npos) continue;
    std::string_view key = std::string_view(field).substr(0, eq);
    const std::string_view value = std::string_view(field).substr(eq + 1);
    if (key.starts_with("userdb_")) key.remove_prefix(std::string_view("userdb_").size());
    if (is_rule_key(key)) {
      apply_rule(field, value, quota);
    } else if (key == "quota_bytes") {
      quota.bytes = parse_limit_size(field, value, 1);
    } else if (key == "quota_messages") {
      quota.messages = parse_limit_count(field, value);
    }
  }
  return quota;
}

Usage maildir_usage(const std::filesystem::path& maildir) {
  Usage usage;
  add_folder_usage(maildir / store::maildir_new, usage);
  add_folder_usage(maildir / store::maildir_cur, usage);
  return usage;
}

}  // namespace postern::delivery
