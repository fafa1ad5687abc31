#include "store/uidl.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>

namespace postern::store {
namespace {

constexpr std::size_t max_uidl_length = 70;  // RFC 1939 section 7

bool is_valid_uidl(std::string_view s) {
  return !s.empty() && s.size() <= max_uidl_length &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

std::string hashed_uidl(std::string_view unique_name) {
  // sodium_init is idempotent and thread-safe; it selects the fastest BLAKE2b for this CPU.
  [[maybe_unused]] static const int sodium_ready = sodium_init();
  std::array<unsigned char, crypto_generichash_BYTES> digest{};
  crypto_generichash(digest.data(), digest.size(),
                     reinterpret_cast<const unsigned char*>(unique_name.data()), unique_name.size(),
                     nullptr, 0);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (const unsigned char byte : digest) {
    out.push_back(hex[byte >> 4]);
    out.push_back(hex[byte & 0x0F]);
  }
  return out;
}

}  // namespace

std::string uidl_for_unique_name(std::string_view unique_name) {
  if (is_valid_uidl(unique_name)) return std::string(unique_name);
  return hashed_uidl(unique_name);
}

}  // namespace postern::store
