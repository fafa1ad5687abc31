// Fuzzes what src/store reads out of names and small files anyone with write access to a maildir
// can plant: Maildir file names (unique part, ",W=" size, the UIDL made from them, natural
// order, FileNameList, printable), the postern-index file, cur/ stamps and maildir path
// templates.
//
// Checked: crlf_size_from_name and the UIDL rule agree with their header's words; natural_less
// is a strict total order (std::sort relies on it); printable output is printable and reversible;
// an index either is refused or reads back the same after write_index; a stamp survives
// to_string; a valid user name never makes a template path step into "." or "..".
//
// Input: byte 0 'I' = index file, 'S' = stamp, 'T' = template ("template\nuser\nhome"),
// anything else = file names, one per line.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/username.hpp"
#include "fuzz_support.hpp"
#include "store/dir_stamp.hpp"
#include "store/file_name_list.hpp"
#include "store/maildir_index.hpp"
#include "store/maildir_layout.hpp"
#include "store/maildrop.hpp"
#include "store/natural_order.hpp"
#include "store/path_template.hpp"
#include "store/printable.hpp"
#include "store/uidl.hpp"

namespace postern::fuzz {
namespace {

namespace fs = std::filesystem;

// ---- file names ----

// ",W=<octets>" read as the header says: the first field of the unique name (after its first
// ',') that starts with "W=" and has more, and only when all of that is decimal digits.
std::optional<std::uint64_t> reference_size(std::string_view name) {
  const auto unique = name.substr(0, name.find(':'));
  const auto comma = unique.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  for (const auto field : split(unique.substr(comma + 1), ',')) {
    if (!field.starts_with("W=") || field.size() == 2) continue;
    unsigned __int128 value = 0;
    for (const char c : field.substr(2)) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > UINT64_MAX) return std::nullopt;
    }
    return static_cast<std::uint64_t>(value);
  }
  return std::nullopt;
}

bool is_rfc1939_uidl(std::string_view uidl) {
  return !uidl.empty() && uidl.size() <= 70 &&
         std::all_of(uidl.begin(), uidl.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

std::string unprintable(std::string_view shown) {
  std::string out;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    if (shown[i] != '\\') {
      out.push_back(shown[i]);
    } else if (shown.substr(i + 1, 1) == "\\") {
      out.push_back('\\');
      ++i;
    } else {
      FUZZ_CHECK(shown.substr(i + 1, 1) == "x" && i + 3 < shown.size(), escaped(shown));
      out.push_back(static_cast<char>(std::stoi(std::string(shown.substr(i + 2, 2)), nullptr, 16)));
      i += 3;
    }
  }
  return out;
}

void check_name(std::string_view name) {
  const auto unique = store::unique_name_of(name);
  FUZZ_CHECK(name.starts_with(unique) && unique.find(':') == std::string_view::npos, escaped(name));
  FUZZ_CHECK(store::crlf_size_from_name(name) == reference_size(name), escaped(name));

  const auto uidl = store::uidl_for_unique_name(unique);
  FUZZ_CHECK(is_rfc1939_uidl(uidl), escaped(uidl));
  if (is_rfc1939_uidl(unique)) {
    FUZZ_CHECK(uidl == unique, escaped(uidl));
  } else {
    FUZZ_CHECK(uidl.size() == 64 && uidl.find_first_not_of("0123456789abcdef") == std::string::npos,
               escaped(uidl));
  }

  const auto shown = store::printable(name);
  for (const char c : shown) FUZZ_CHECK(c >= 0x20 && c <= 0x7e, escaped(shown));
  FUZZ_CHECK(unprintable(shown) == name, escaped(shown));
}

void check_order(std::vector<std::string_view> names) {
  const auto less = [](std::string_view a, std::string_view b) {
    return store::natural_less(a, b);
  };
  for (const auto a : names) {
    FUZZ_CHECK(!less(a, a), escaped(a));
    for (const auto b : names) {
      const bool ab = less(a, b);
      const bool ba = less(b, a);
      FUZZ_CHECK(!(ab && ba), escaped(a) + " <> " + escaped(b));
      FUZZ_CHECK(ab || ba || a == b, "incomparable: " + escaped(a) + " / " + escaped(b));
      if (!ab) continue;
      for (const auto c : names) {
        if (less(b, c))
          FUZZ_CHECK(less(a, c), escaped(a) + " < " + escaped(b) + " < " + escaped(c));
      }
    }
  }
  auto sorted = names;
  std::sort(sorted.begin(), sorted.end(), less);
  FUZZ_CHECK(std::is_sorted(sorted.begin(), sorted.end(), less), "sort result unsorted");
  std::sort(names.begin(), names.end());
  std::sort(sorted.begin(), sorted.end());
  FUZZ_CHECK(names == sorted, "sorting lost or made up names");
}

void check_name_list(const std::vector<std::string_view>& names) {
  store::FileNameList list;
  for (const auto name : names) {
    if (name.size() > 255 || name.find('\0') != std::string_view::npos)
      continue;  // not a file name
    const auto index = list.add(name);
    FUZZ_CHECK(list.name(index) == name && list.unique_name(index) == store::unique_name_of(name),
               escaped(name));
    FUZZ_CHECK(std::string_view(list.c_str(index)) == name, escaped(name));
  }
  if (list.size() < 2) return;
  const std::string last(list.name(static_cast<std::uint32_t>(list.size() - 1)));
  list.rename(0, last);
  FUZZ_CHECK(list.name(0) == last && list.unique_name(0) == store::unique_name_of(last),
             escaped(last));
}

void check_names(std::string_view text) {
  auto names = split(text, '\n');
  if (names.size() > 16) names.resize(16);  // the order check is cubic
  for (const auto name : names) check_name(name);
  check_order(names);
  check_name_list(names);
}

// ---- postern-index ----

bool same_entries(std::span<const store::IndexEntry> a, std::span<const store::IndexEntry> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.file_name == y.file_name && x.size == y.size;
  });
}

void check_index(std::string_view text) {
  const auto maildir = private_directory();
  write_file(maildir / store::maildir_index_file, text);
  const store::StoredIndex index(maildir);
  show("index", index.valid() ? std::to_string(index.entries().size()) + " entries" : "refused");
  if (!index.valid()) return;
  for (const auto& entry : index.entries()) {
    const auto name = entry.file_name;
    FUZZ_CHECK(!name.empty() && !name.starts_with('.') && !store::unique_name_of(name).empty() &&
                   name.find_first_of(std::string_view("/\n\0", 3)) == std::string_view::npos,
               "index accepted the name " + escaped(name));
  }
  store::write_index(maildir, index.entries(), index.cur_stamp());
  const store::StoredIndex again(maildir);
  FUZZ_CHECK(again.valid(), "write_index wrote what StoredIndex refuses");
  FUZZ_CHECK(same_entries(index.entries(), again.entries()), "index changed in a round trip");
  FUZZ_CHECK(index.cur_stamp() == again.cur_stamp(), "stamp changed in a round trip");
}

// ---- cur/ stamps ----

void check_stamp(std::string_view text) {
  const auto stamp = store::parse_dir_stamp(text);
  if (!stamp) return;
  const auto again = store::parse_dir_stamp(store::to_string(*stamp));
  FUZZ_CHECK(again && *again == *stamp, escaped(text) + " -> " + store::to_string(*stamp));
}

// ---- maildir templates ----

void check_template(std::string_view text) {
  const auto parts = split(text, '\n');
  const auto pattern = parts[0];
  const std::string user(parts.size() > 1 ? parts[1] : "alice@example.org");
  const std::string home(parts.size() > 2 ? parts[2] : "/home/alice");
  std::optional<store::PathTemplate> path_template;
  try {
    path_template.emplace(std::string(pattern));
  } catch (const std::invalid_argument&) {
    return;
  }
  if (!auth::is_valid_username(user)) return;  // the only names that ever reach expand()
  fs::path expanded;
  try {
    expanded = path_template->expand({user, home});
  } catch (const store::StoreError& e) {
    FUZZ_CHECK(e.code() == store::StoreErrc::permanent, e.what());
    return;
  }
  show("maildir", expanded.string());
  // With no '.' written in the template or the home, any "." or ".." came from the user name.
  if (pattern.find('.') != std::string_view::npos || home.find('.') != std::string::npos) return;
  for (const auto& component : expanded) {
    FUZZ_CHECK(component != "." && component != "..",
               "user " + escaped(user) + " makes " + escaped(expanded.string()));
  }
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
  if (size == 0) return 0;
  const auto rest = as_text(data + 1, size - 1);
  switch (data[0]) {
    case 'I': check_index(rest); break;
    case 'S': check_stamp(rest); break;
    case 'T': check_template(rest); break;
    default: check_names(rest); break;
  }
  return 0;
}
