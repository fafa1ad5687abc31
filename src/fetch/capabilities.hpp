// What a POP3 server says about itself and its messages, parsed from reply bodies (LF lines as
// ReplyParser hands them out): the CAPA list (RFC 2449), the APOP timestamp in the greeting,
// and the UIDL and LIST listings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::fetch {

struct Capabilities {
  bool known = false;  // the server answered CAPA with +OK; false: an RFC 1939-only server
  bool top = false;
  bool uidl = false;
  bool user = false;
  bool pipelining = false;
  bool stls = false;
  bool resp_codes = false;
  std::vector<std::string> sasl;  // mechanism names, upper case
  std::string implementation;

  bool offers_sasl(std::string_view mechanism) const;
};

// Capability names are case-insensitive; unknown ones are ignored.
Capabilities parse_capabilities(std::string_view body);

// The "<...@...>" token of an RFC 1939 greeting, brackets included, if there is one.
std::optional<std::string> apop_timestamp(std::string_view greeting_text);

struct UidlEntry {
  std::uint64_t number = 0;
  std::string uidl;
};
struct ListEntry {
  std::uint64_t number = 0;
  std::uint64_t size = 0;  // octets as the server counts them (CRLF line ends)
};

// "1 abc\n2 def\n" -> entries. Throws FetchError (failure) naming the bad line: a number that
// is not one, or a UIDL outside RFC 1939's 0x21-0x7E (it is written to the state file as is).
std::vector<UidlEntry> parse_uidl_listing(std::string_view body);
std::vector<ListEntry> parse_list_listing(std::string_view body);

// "+OK 1 abc" (UIDL n) -> "abc"; the same checks.
std::string parse_single_uidl(std::string_view status_text);

// A UIDL as RFC 1939 allows it: 1 to 70 characters from 0x21 to 0x7E. Up to 512 is accepted,
// since some servers exceed 70 and that does not hurt us.
bool is_valid_uidl(std::string_view uidl);

}  // namespace postern::fetch
