#include "auth/username.hpp"

#include <algorithm>

namespace postern::auth {

namespace {

bool is_forbidden_byte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f || c == '/' || c == ':' || c == ' ';
}

}  // namespace

bool is_valid_username(std::string_view name) {
  if (name.empty() || name.size() > max_username_bytes) return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::none_of(name.begin(), name.end(), is_forbidden_byte);
}

}  // namespace postern::auth
