#include "auth/passwd_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include "auth/password_scheme.hpp"
#include "auth/posix_file.hpp"
#include "auth/username.hpp"

namespace postern::auth {

namespace {

std::string_view next_field(std::string_view& rest) {
  const auto colon = rest.find(':');
  const auto field = rest.substr(0, colon);
  rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
  return field;
}

std::vector<std::string> split_on_spaces(std::string_view text) {
  std::vector<std::string> words;
  while (!text.empty()) {
    const auto space = text.find(' ');
    if (space != 0) words.emplace_back(text.substr(0, space));
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
  }
  return words;
}

// The fixed hash an unknown user's password is checked against, so that answering "no such
// user" costs as long as "wrong password" and the timing does not reveal who has an account.
const std::string& dummy_hash() {
  static const std::string hash = [] {
    try {
      return hash_password("postern timing-equaliser", HashScheme::yescrypt);
    } catch (const std::exception&) {
      return std::string();
    }
  }();
  return hash;
}

void spend_comparable_time(std::string_view password) {
  static_cast<void>(verify_password(dummy_hash(), password));
}

AuthResult refuse(std::string reason) {
  return AuthResult{AuthStatus::bad_credentials, std::move(reason), std::nullopt};
}

}  // namespace

std::optional<UserRecord> parse_passwd_line(std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  const auto first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos || line[first] == '#') return std::nullopt;

  UserRecord record;
  std::string_view rest = line;
  record.user = next_field(rest);
  record.password = next_field(rest);
  record.uid = next_field(rest);
  record.gid = next_field(rest);
  record.gecos = next_field(rest);
  record.home = next_field(rest);
  record.shell = next_field(rest);
  record.extra = split_on_spaces(rest);

  if (record.user.empty()) throw PasswdFileError("empty user name");
  if (!is_valid_username(record.user)) {
    throw PasswdFileError(fmt::format("invalid user name {:?}", record.user));
  }
  return record;
}

PasswdFile::PasswdFile(std::filesystem::path path, std::chrono::milliseconds recheck_interval)
    : path_(std::move(path)), recheck_interval_(recheck_interval) {}

const std::filesystem::path& PasswdFile::path() const {
  return path_;
}

void PasswdFile::load() {
  static_cast<void>(dummy_hash());  // made now, so the first unknown user is not the slow one
  std::lock_guard io(reload_mutex_);
  read_and_install(Strictness::throw_on_bad_line);
  std::lock_guard lock(table_mutex_);
  next_check_ = std::chrono::steady_clock::now() + recheck_interval_;
}

AuthResult PasswdFile::verify(std::string_view user, std::string_view password) {
  if (!is_valid_username(user)) return refuse("invalid user name");
  const auto table = current_table();
  if (!table) {
    return AuthResult{AuthStatus::temp_failure,
                      fmt::format("passwd-file {} could not be read", path_.string()),
                      std::nullopt};
  }
  const auto found = table->find(user);
  if (found == table->end()) {
    spend_comparable_time(password);
    return refuse("unknown user");
  }
  const UserRecord& record = found->second;
  if (record.password.empty()) {
    spend_comparable_time(password);
    return refuse("no password set");
  }
  if (!verify_password(record.password, password)) return refuse("wrong password");
  return AuthResult{AuthStatus::ok, {}, record};
}

std::optional<UserRecord> PasswdFile::lookup(std::string_view user) {
  if (!is_valid_username(user)) return std::nullopt;
  const auto table = current_table();
  if (!table) return std::nullopt;
  const auto found = table->find(user);
  if (found == table->end()) return std::nullopt;
  return found->second;
}

std::size_t PasswdFile::user_count() {
  const auto table = current_table();
  return table ? table->size() : 0;
}

std::shared_ptr<const PasswdFile::Table> PasswdFile::current_table() {
  if (recheck_due()) refresh();
  std::lock_guard lock(table_mutex_);
  return table_;
}

bool PasswdFile::recheck_due() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(table_mutex_);
  if (now < next_check_) return false;
  next_check_ = now + recheck_interval_;
  return true;
}

PasswdFile::FileStamp PasswdFile::stamp_of(const struct stat& st) {
  return FileStamp{static_cast<std::uintmax_t>(st.st_dev), static_cast<std::uintmax_t>(st.st_ino),
                   static_cast<std::intmax_t>(st.st_size),
                   static_cast<std::intmax_t>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec};
}

// A failed re-read keeps the table that was good, so a half-edited file cannot lock users out.
void PasswdFile::refresh() {
  std::lock_guard io(reload_mutex_);
  try {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      throw PasswdFileError(
          fmt::format("passwd-file {}: {}", path_.string(), errno_message(errno)));
    }
    if (stamp_ == stamp_of(st)) return;
    read_and_install(Strictness::skip_bad_line);
    last_error_.clear();
  } catch (const std::exception& e) {
    if (last_error_ == e.what()) return;
    last_error_ = e.what();
    const bool loaded = stamp_.has_value();
    spdlog::error("{}; {}", e.what(),
                  loaded ? "keeping the users read before" : "logins fail until it can be read");
  }
}

void PasswdFile::read_and_install(Strictness strictness) {
  const std::string name = path_.string();
  const UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
    throw PasswdFileError(
        fmt::format("passwd-file {}: cannot open: {}", name, errno_message(errno)));
  }
  std::string text;
  try {
    text = read_to_end(fd.get());
  } catch (const std::system_error& e) {
    throw PasswdFileError(fmt::format("passwd-file {}: cannot read: {}", name, e.code().message()));
  }
  auto table = std::make_shared<const Table>(parse_table(text, strictness));
  stamp_ = stamp_of(st);
  std::lock_guard lock(table_mutex_);
  table_ = std::move(table);
}

PasswdFile::Table PasswdFile::parse_table(std::string_view text, Strictness strictness) const {
  Table table;
  std::unordered_map<std::string, std::size_t> first_line;
  std::size_t number = 0;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const auto line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    ++number;
    try {
      auto record = parse_passwd_line(line);
      if (!record) continue;
      const auto [seen, fresh] = first_line.emplace(record->user, number);
      if (!fresh) {
        throw PasswdFileError(
            fmt::format("user {} appears again (first on line {})", record->user, seen->second));
      }
      table.emplace(record->user, std::move(*record));
    } catch (const PasswdFileError& e) {
      const auto message = fmt::format("{}:{}: {}", path_.string(), number, e.what());
      if (strictness == Strictness::throw_on_bad_line) throw PasswdFileError(message);
      spdlog::warn("{}; line skipped", message);
    }
  }
  return table;
}

}  // namespace postern::auth
