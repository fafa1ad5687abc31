// The names of one Maildir folder packed into one buffer: listing 100,000 messages costs a handful
// of allocations instead of 100,000, and walking the names reads memory in order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/maildir_layout.hpp"

namespace postern::store {

class FileNameList {
 public:
  // Returns the new name's index. Views returned earlier may dangle afterwards.
  std::uint32_t add(std::string_view name);
  // Points index at another name, for a file another reader renamed; the old bytes stay unused.
  void rename(std::uint32_t index, std::string_view name);

  std::size_t size() const noexcept { return entries_.size(); }
  std::string_view name(std::uint32_t index) const noexcept {
    const Entry& e = entries_[index];
    return {text_.data() + e.offset, e.length};
  }
  std::string_view unique_name(std::uint32_t index) const noexcept {
    const Entry& e = entries_[index];
    return {text_.data() + e.offset, e.unique_length};
  }
  // NUL-terminated, for the *at() calls.
  const char* c_str(std::uint32_t index) const noexcept {
    return text_.data() + entries_[index].offset;
  }

 private:
  struct Entry {
    std::size_t offset;
    std::uint32_t length;         // a file name has at most 255 bytes
    std::uint32_t unique_length;  // found once, while the name is still in cache
  };

  std::string text_;
  std::vector<Entry> entries_;
};

inline std::uint32_t FileNameList::add(std::string_view name) {
  entries_.push_back({text_.size(), static_cast<std::uint32_t>(name.size()),
                      static_cast<std::uint32_t>(unique_name_of(name).size())});
  text_.append(name).push_back('\0');
  return static_cast<std::uint32_t>(entries_.size() - 1);
}

inline void FileNameList::rename(std::uint32_t index, std::string_view name) {
  entries_[index] = {text_.size(), static_cast<std::uint32_t>(name.size()),
                     static_cast<std::uint32_t>(unique_name_of(name).size())};
  text_.append(name).push_back('\0');
}

}  // namespace postern::store
