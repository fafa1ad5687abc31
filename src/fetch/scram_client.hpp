// The client side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, 7677, 9266), sans-I/O:
// raw messages in and out; the POP3 client base64-codes them for AUTH. The server must prove
// that it knows the password too (the "v=" signature), or the login counts as failed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::fetch {

class ScramClient {
 public:
  // channel_binding: the connection's tls-exporter value for -PLUS, nullopt for plain SCRAM.
  // nonce: empty for a random one (tests fix it). The password is used as given (no SASLprep:
  // ASCII passwords are unaffected, and postern's server does not apply it either).
  ScramClient(std::string user, std::string password,
              std::optional<std::string> channel_binding = std::nullopt, std::string nonce = {});

  std::string client_first() const;
  // Throws FetchError (auth) when the server-first-message is malformed or unsafe (a nonce that
  // does not extend ours, fewer than 4096 iterations).
  std::string client_final(std::string_view server_first);
  // Throws FetchError (auth) unless this is the server's correct signature ("v=...").
  void verify_server_final(std::string_view server_final) const;

 private:
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string nonce_;
  std::string password_;
  std::optional<std::string> channel_binding_;
  std::string auth_message_;
  std::string server_key_;
};

}  // namespace postern::fetch
