#include "store/natural_order.hpp"

namespace postern::store {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The digit run starting at pos, and pos moved past it.
std::string_view take_digits(std::string_view s, std::size_t& pos) {
  const std::size_t start = pos;
  while (pos < s.size() && is_digit(s[pos])) ++pos;
  return s.substr(start, pos - start);
}

std::string_view without_leading_zeros(std::string_view digits) {
  const auto first = digits.find_first_not_of('0');
  return first == std::string_view::npos ? std::string_view{} : digits.substr(first);
}

// <0, 0, >0 like strcmp, comparing two digit runs by value.
int compare_numbers(std::string_view a, std::string_view b) {
  a = without_leading_zeros(a);
  b = without_leading_zeros(b);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b);
}

}  // namespace

bool natural_less(std::string_view a, std::string_view b) noexcept {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      const int order = compare_numbers(take_digits(a, i), take_digits(b, j));
      if (order != 0) return order < 0;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  const bool a_done = i == a.size();
  const bool b_done = j == b.size();
  if (a_done != b_done) return a_done;
  return a < b;
}

}  // namespace postern::store
