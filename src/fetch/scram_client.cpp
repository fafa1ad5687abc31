#include "fetch/scram_client.hpp"

#include <charconv>

#include "auth/sasl/base64.hpp"
#include "auth/sasl/digest.hpp"
#include "fetch/error.hpp"

namespace postern::fetch {
namespace {

using namespace postern::auth::sasl;

constexpr unsigned min_iterations = 4096;        // RFC 7677's floor: less makes guessing cheap
constexpr unsigned max_iterations = 10'000'000;  // more is a server making us spin

[[noreturn]] void refuse(std::string_view why) {
  throw FetchError(ErrorKind::auth, "SCRAM-SHA-256: " + std::string(why));
}

// RFC 5802 saslname: ',' and '=' are escaped.
std::string saslname(std::string_view user) {
  std::string out;
  for (char c : user) {
    if (c == ',')
      out += "=2C";
    else if (c == '=')
      out += "=3D";
    else
      out.push_back(c);
  }
  return out;
}

// The value of "x=..." among comma-separated attributes, if present.
std::optional<std::string_view> attribute(std::string_view message, char name) {
  while (!message.empty()) {
    const auto comma = message.find(',');
    const auto part = message.substr(0, comma);
    if (part.size() >= 2 && part[0] == name && part[1] == '=') return part.substr(2);
    if (comma == std::string_view::npos) break;
    message.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a.size(), '\0');
  for (std::size_t i = 0; i < a.size(); ++i) {
    out[i] = static_cast<char>(static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
  }
  return out;
}

}  // namespace

ScramClient::ScramClient(std::string user, std::string password,
                         std::optional<std::string> channel_binding, std::string nonce)
    : gs2_header_(channel_binding ? "p=tls-exporter,," : "n,,"),
      nonce_(nonce.empty() ? encode_base64(random_bytes(18)) : std::move(nonce)),
      password_(std::move(password)),
      channel_binding_(std::move(channel_binding)) {
  client_first_bare_ = "n=" + saslname(user) + ",r=" + nonce_;
}

std::string ScramClient::client_first() const {
  return gs2_header_ + client_first_bare_;
}

std::string ScramClient::client_final(std::string_view server_first) {
  if (server_first.starts_with("m=")) refuse("the server requires an unknown extension");
  const auto nonce = attribute(server_first, 'r');
  const auto salt_text = attribute(server_first, 's');
  const auto iter_text = attribute(server_first, 'i');
  if (!nonce || !salt_text || !iter_text) refuse("malformed server-first-message");
  if (!nonce->starts_with(nonce_) || nonce->size() == nonce_.size()) {
    refuse("the server's nonce does not extend ours");
  }
  const auto salt = decode_base64(*salt_text);
  if (!salt || salt->empty()) refuse("malformed salt");
  unsigned iterations = 0;
  const auto [ptr, ec] =
      std::from_chars(iter_text->data(), iter_text->data() + iter_text->size(), iterations);
  if (ec != std::errc{} || ptr != iter_text->data() + iter_text->size()) {
    refuse("malformed iteration count");
  }
  if (iterations < min_iterations || iterations > max_iterations) {
    refuse("iteration count " + std::to_string(iterations) + " is outside 4096..10000000");
  }
  const std::string salted = pbkdf2_sha256(password_, *salt, iterations);
  const std::string client_key = hmac_sha256(salted, "Client Key");
  server_key_ = hmac_sha256(salted, "Server Key");
  const std::string without_proof =
      "c=" + encode_base64(gs2_header_ + channel_binding_.value_or("")) +
      ",r=" + std::string(*nonce);
  auth_message_ = client_first_bare_ + "," + std::string(server_first) + "," + without_proof;
  const std::string signature = hmac_sha256(sha256(client_key), auth_message_);
  return without_proof + ",p=" + encode_base64(xor_bytes(client_key, signature));
}

void ScramClient::verify_server_final(std::string_view server_final) const {
  if (auto error = attribute(server_final, 'e')) {
    refuse("the server reports \"" + std::string(*error) + "\"");
  }
  const auto verifier = attribute(server_final, 'v');
  if (!verifier || server_key_.empty()) refuse("malformed server-final-message");
  const auto signature = decode_base64(*verifier);
  if (!signature || !equal_constant_time(*signature, hmac_sha256(server_key_, auth_message_))) {
    refuse("the server's signature is wrong: it does not know the password (impostor?)");
  }
}

}  // namespace postern::fetch
