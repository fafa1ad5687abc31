// Ordering for Maildir unique names, which begin with a decimal timestamp: "999.x" before "1000.x",
// so mail new to the index lists in delivery order even where the number of digits changes.
#pragma once

#include <string_view>

namespace postern::store {

// Compares runs of digits by numeric value and other bytes as unsigned chars. Names equal in that
// sense (only leading zeros differ) fall back to byte order, which keeps this a strict weak order.
bool natural_less(std::string_view a, std::string_view b) noexcept;

}  // namespace postern::store
