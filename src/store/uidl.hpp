// UIDLs for Maildir messages: the file's unique name where RFC 1939 allows it, a hash where not.
// Derived from the unique name only, so a UIDL survives flag changes and the new/ -> cur/ move.
#pragma once

#include <string>
#include <string_view>

namespace postern::store {

// unique_name is the file name up to its first ':'. Returned as is when it is 1..70 characters, all
// in 0x21..0x7E; otherwise the lowercase hex BLAKE2b-256 of it (64 characters).
std::string uidl_for_unique_name(std::string_view unique_name);

}  // namespace postern::store
