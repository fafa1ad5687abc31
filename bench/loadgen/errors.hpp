// What the load generator found wrong. A run with any error has no score: the server either
// sent something other than the exact expected octets, broke the protocol, or was unreachable.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace postern::bench {

enum class ErrorKind {
  wrong_data,  // a count, a size, a UIDL or a message octet differs from the fixture
  protocol,    // -ERR where +OK was due, a malformed or unterminated reply
  io,          // refused, reset, closed early, timed out
};

class BenchError : public std::runtime_error {
 public:
  BenchError(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

class ErrorLog {
 public:
  explicit ErrorLog(std::size_t max_errors) : max_errors_(max_errors) {}

  // Prints the first errors to stderr as they happen ("postern-bench: error: CONTEXT: WHAT").
  void add(ErrorKind kind, const std::string& context, const std::string& what);
  std::size_t count() const { return count_; }
  // A run stops starting new work after this many errors: a broken server must not be
  // hammered for the whole duration.
  bool too_many() const { return count_ >= max_errors_; }
  // sysexits: 0 clean, 65 (EX_DATAERR) when the server sent anything wrong, 69
  // (EX_UNAVAILABLE) when it could only not be reached or dropped connections.
  int exit_code() const;
  nlohmann::json to_json() const;

 private:
  static constexpr std::size_t printed_max = 20;
  std::size_t max_errors_;
  std::size_t count_ = 0;
  std::size_t data_or_protocol_ = 0;
  std::vector<std::string> samples_;
};

}  // namespace postern::bench
