// The POP3 session reads its commands with the shared wire::LineReader (255 for commands (RFC
// 2449)).
#pragma once

#include "wire/line_reader.hpp"

namespace postern::pop3 {

using wire::Line;
using wire::LineReader;

}  // namespace postern::pop3
