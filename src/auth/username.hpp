// User-name hygiene: the one check every user name passes before it reaches a file path or a log.
// Refuses what could escape a maildir template or confuse a log line.
#pragma once

#include <string_view>

namespace postern::auth {

inline constexpr std::size_t max_username_bytes = 255;

// True when the name is non-empty, at most 255 bytes, and holds no '/', no "..", no NUL,
// no ASCII control character (0x00-0x1F, 0x7F), no ':' (the passwd-file separator) and no space.
bool is_valid_username(std::string_view name);

}  // namespace postern::auth
