// Fuzzes the Dovecot-style passwd-file (src/auth/passwd_file*): parse_passwd_line on every line,
// then the same text as a file (in a private directory, on tmpfs when there is one) through
// PasswdFile::load and lookup, and through the `postern user` edits (set_password, add_user,
// remove_user, list_users).
//
// Checked: a line parses into fields that never hold the ':' that separated them; load() succeeds
// exactly when every line parses and no user appears twice, and then lookup() returns what
// parse_passwd_line returned; an edit changes the one user it names and leaves every other
// line's meaning as it was; {PLAIN} secrets verify with exactly their password.
//
// Input: the file's text.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/passwd_file.hpp"
#include "auth/passwd_file_editor.hpp"
#include "auth/password_scheme.hpp"
#include "auth/sasl/stored_secret.hpp"
#include "auth/username.hpp"
#include "fuzz_support.hpp"

namespace postern::fuzz {
namespace {

namespace fs = std::filesystem;

std::string read_back(const fs::path& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  FUZZ_CHECK(fd >= 0, path.string());
  char buffer[4096];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    FUZZ_CHECK(n >= 0, path.string());
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

bool same_record(const auth::UserRecord& a, const auth::UserRecord& b) {
  return a.user == b.user && a.password == b.password && a.uid == b.uid && a.gid == b.gid &&
         a.gecos == b.gecos && a.home == b.home && a.shell == b.shell && a.extra == b.extra;
}

// What the file means: the users its lines define, in order, and whether every line was good.
struct Meaning {
  std::vector<auth::UserRecord> records;
  bool strict_ok = true;  // every line parses and no user is defined twice
};

Meaning meaning_of(std::string_view text) {
  Meaning meaning;
  std::map<std::string, int, std::less<>> seen;
  // The file's lines as parse_table cuts them: at '\n', with no empty piece after a final '\n'.
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const auto line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    std::optional<auth::UserRecord> record;
    try {
      record = auth::parse_passwd_line(line);
    } catch (const auth::PasswdFileError&) {
      meaning.strict_ok = false;
      continue;
    }
    if (!record) continue;
    FUZZ_CHECK(auth::is_valid_username(record->user), escaped(record->user));
    for (const auto* field : {&record->password, &record->uid, &record->gid, &record->gecos,
                              &record->home, &record->shell}) {
      FUZZ_CHECK(field->find(':') == std::string::npos, escaped(line));
    }
    for (const auto& word : record->extra) {
      FUZZ_CHECK(!word.empty() && word.find(' ') == std::string::npos, escaped(line));
    }
    if (!seen.emplace(record->user, 0).second) {
      meaning.strict_ok = false;
      continue;
    }
    meaning.records.push_back(std::move(*record));
  }
  return meaning;
}

// Loads the file strictly; nullopt when load() refuses it.
std::optional<std::vector<auth::UserRecord>> load(const fs::path& path,
                                                  const std::vector<auth::UserRecord>& expected) {
  auth::PasswdFile file(path, std::chrono::hours(1));
  try {
    file.load();
  } catch (const auth::PasswdFileError& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with(path.string()), e.what());
    return std::nullopt;
  }
  FUZZ_CHECK(file.user_count() == expected.size(), std::to_string(file.user_count()));
  std::vector<auth::UserRecord> found;
  for (const auto& record : expected) {
    auto got = file.lookup(record.user);
    FUZZ_CHECK(got.has_value(), "lookup lost " + escaped(record.user));
    found.push_back(std::move(*got));
  }
  return found;
}

void check_plain_secret(const auth::UserRecord& record) {
  const auto secret = auth::sasl::plaintext_secret(record.password);
  if (!secret || secret->size() > 4096) return;  // other schemes cost what the file says
  FUZZ_CHECK(auth::verify_password(record.password, *secret), escaped(record.password));
  FUZZ_CHECK(!auth::verify_password(record.password, *secret + "x"), escaped(record.password));
}

// After an edit the file must mean what it meant, with that one change.
void check_edits(const fs::path& path, const Meaning& before) {
  const auto& first = before.records.front();
  auth::set_password(path, first.user, "{PLAIN}fuzz-new");
  auto after = meaning_of(read_back(path));
  FUZZ_CHECK(after.records.size() == before.records.size(), "set_password changed the users");
  for (std::size_t i = 0; i < after.records.size(); ++i) {
    auto want = before.records[i];
    if (i == 0) want.password = "{PLAIN}fuzz-new";
    FUZZ_CHECK(same_record(after.records[i], want), "set_password changed " + escaped(want.user));
  }

  auth::remove_user(path, first.user);
  after = meaning_of(read_back(path));
  FUZZ_CHECK(after.records.size() + 1 == before.records.size(), "remove_user");
  for (std::size_t i = 0; i < after.records.size(); ++i) {
    FUZZ_CHECK(same_record(after.records[i], before.records[i + 1]), "remove_user changed others");
  }

  const std::string added = "fuzz-added-user";
  const bool exists = std::any_of(after.records.begin(), after.records.end(),
                                  [&](const auto& r) { return r.user == added; });
  try {
    auth::add_user(path, added, "{PLAIN}x");
    FUZZ_CHECK(!exists, "add_user added a user twice");
  } catch (const auth::PasswdFileError&) {
    FUZZ_CHECK(exists, "add_user refused a new user");
    return;
  }
  const auto listed = auth::list_users(path);
  FUZZ_CHECK(!listed.empty() && listed.back() == added, "list_users misses the added user");
}

}  // namespace
}  // namespace postern::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  postern::fuzz::silence_logging();
  static_cast<void>(postern::fuzz::private_directory());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::fuzz;
  const auto text = as_text(data, size);
  const auto meaning = meaning_of(text);
  for (const auto& record : meaning.records) check_plain_secret(record);

  const auto path = private_directory() / "passwd";
  write_file(path, text);
  const auto loaded = load(path, meaning.records);
  FUZZ_CHECK(loaded.has_value() == meaning.strict_ok, escaped(text));
  if (loaded) {
    for (std::size_t i = 0; i < loaded->size(); ++i) {
      FUZZ_CHECK(same_record((*loaded)[i], meaning.records[i]), escaped(meaning.records[i].user));
    }
  }
  if (!meaning.records.empty()) check_edits(path, meaning);
  return 0;
}
