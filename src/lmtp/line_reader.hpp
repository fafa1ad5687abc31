// The LMTP session reads its commands with the shared wire::LineReader (512 for commands (RFC
// 5321)).
#pragma once

#include "wire/line_reader.hpp"

namespace postern::lmtp {

using wire::Line;
using wire::LineReader;

}  // namespace postern::lmtp
