// File names come from whoever can write into a maildir; before one goes into a log line or an
// error text (which may reach a POP3 -ERR line) its control and 8-bit bytes are escaped.
#pragma once

#include <string>
#include <string_view>

namespace postern::store {

// Bytes 0x20..0x7E except '\' pass through; the rest become \xHH, '\' becomes "\\".
std::string printable(std::string_view bytes);

}  // namespace postern::store
