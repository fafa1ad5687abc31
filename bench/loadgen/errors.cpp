// ErrorLog (see errors.hpp).
#include "errors.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace postern::bench {

void ErrorLog::add(ErrorKind kind, const std::string& context, const std::string& what) {
  ++count_;
  if (kind != ErrorKind::io) ++data_or_protocol_;
  if (samples_.size() < printed_max) {
    std::string line = context.empty() ? what : fmt::format("{}: {}", context, what);
    fmt::print(stderr, "postern-bench: error: {}\n", line);
    std::fflush(stderr);
    samples_.push_back(std::move(line));
  }
}

int ErrorLog::exit_code() const {
  if (count_ == 0) return 0;
  return data_or_protocol_ > 0 ? 65 : 69;
}

nlohmann::json ErrorLog::to_json() const {
  return samples_;
}

}  // namespace postern::bench
