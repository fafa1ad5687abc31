// The POP3 size of a message (RFC 1939 LIST and STAT): its octet count once every line ends in
// CRLF. Counted incrementally, so a large file is measured chunk by chunk and never held in memory.
#pragma once

#include <cstdint>
#include <string_view>

namespace postern::store {

// Bare LF counts 2 (RETR sends it as CRLF), CRLF counts 2, every other byte 1; a non-empty message
// that does not end in LF gets 2 more for the CRLF that RETR appends. An empty message has size 0.
class CrlfSizeCounter {
 public:
  void feed(std::string_view chunk);
  // Includes the final CRLF rule; feeding may continue afterwards.
  std::uint64_t size() const;

 private:
  std::uint64_t crlf_bytes_ = 0;  // size so far, without the appended final CRLF
  char last_ = '\0';              // last byte fed, to pair a CR and an LF split across chunks
};

}  // namespace postern::store
