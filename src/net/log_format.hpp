// The one log-line format: "event key=value key=value", values quoted and escaped when needed,
// so that a user name sent by a stranger can never forge a line or a field (see docs/logging.md).
#pragma once

#include <string>
#include <string_view>

namespace postern::net {

// Returns the value as is when it is plain printable ASCII without spaces, quotes or '=';
// otherwise in double quotes with '"', '\\' and every byte outside 0x20-0x7E escaped (\xNN).
std::string log_value(std::string_view value);

}  // namespace postern::net
