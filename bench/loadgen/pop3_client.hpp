// The checking POP3 client: every reply is compared with what the fixture says it must be, and
// any difference is thrown as a BenchError that names the command and the first wrong octet.
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "content.hpp"

namespace postern::bench {

// The UIDs of a UIDL listing, kept in one block of text.
struct UidList {
  std::string text;                                     // every UID, back to back
  std::vector<std::pair<std::size_t, std::size_t>> at;  // (offset, length) of UID n at n - 1
};

// Throws a wrong_data BenchError naming the first UID listed twice.
void check_unique(const UidList& uids);

class Pop3Client {
 public:
  explicit Pop3Client(Connection& connection);

  asio::awaitable<void> greeting();
  asio::awaitable<void> login(std::string_view user, std::string_view password);
  asio::awaitable<void> check_stat(const ExpectedMaildrop& expected);
  // LIST: numbering 1..n, n and the sum of sizes as expected. Returns the sizes (index n - 1),
  // which the caller holds against the message each RETR turns out to send.
  asio::awaitable<std::vector<std::uint64_t>> list(const ExpectedMaildrop& expected);
  // UIDL: numbering 1..n, n as expected, each UID 1 to 70 printable characters. Whether they
  // are distinct is check_unique's job, so that a timed UIDL times the server, not a hash set.
  asio::awaitable<UidList> uidl(const ExpectedMaildrop& expected);
  // RETR n, compared octet by octet with the exact dot-stuffed form of the message its first
  // line names. Returns that message.
  asio::awaitable<const ExpectedMessage*> retr(std::uint64_t n, const ExpectedMaildrop& expected);
  asio::awaitable<void> quit();

 private:
  asio::awaitable<std::string_view> command(std::string_view line, std::string_view name);
  asio::awaitable<std::string_view> read_line();
  asio::awaitable<void> fill();
  asio::awaitable<const ExpectedMessage*> identify(std::uint64_t n,
                                                   const ExpectedMaildrop& expected);
  asio::awaitable<void> compare_body(const ExpectedMessage& message, std::uint64_t n);

  Connection& connection_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
};

// "\r\n" as \r\n, other control bytes as \xHH: for error messages quoting server output.
std::string escape(std::string_view bytes, std::size_t max = 60);

}  // namespace postern::bench
