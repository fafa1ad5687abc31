#include "auth/sasl/oauth.hpp"

#include <map>
#include <variant>

#include "auth/sasl/jwt.hpp"
#include "auth/sasl/step.hpp"
#include "auth/username.hpp"

namespace postern::auth::sasl {
namespace {

constexpr std::size_t max_message_bytes = 65536;
constexpr char separator = '\x01';

using KeyValues = std::map<std::string, std::string, std::less<>>;

bool is_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

// RFC 7628: value = *(VCHAR / SP / HTAB / CR / LF)
bool is_value(std::string_view value) {
  for (char c : value) {
    if (!((c >= 0x20 && c <= 0x7E) || c == '\t' || c == '\r' || c == '\n')) return false;
  }
  return true;
}

// 1*(kvpair) followed by the final separator: "key=value\x01...\x01". Duplicates are refused.
std::optional<KeyValues> parse_key_values(std::string_view text) {
  KeyValues result;
  while (text != std::string_view(&separator, 1)) {
    const auto end = text.find(separator);
    if (end == std::string_view::npos) return std::nullopt;
    const auto pair = text.substr(0, end);
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    const auto key = pair.substr(0, equals);
    const auto value = pair.substr(equals + 1);
    if (!is_key(key) || !is_value(value)) return std::nullopt;
    if (!result.emplace(std::string(key), std::string(value)).second) return std::nullopt;
    text.remove_prefix(end + 1);
  }
  return result;
}

// "Bearer <token>", the scheme name case-insensitive as in HTTP.
std::optional<std::string_view> bearer_token(const KeyValues& pairs) {
  const auto auth = pairs.find("auth");
  if (auth == pairs.end()) return std::nullopt;
  const std::string_view value = auth->second;
  constexpr std::string_view scheme = "bearer ";
  if (value.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = value[i];
    const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != scheme[i]) return std::nullopt;
  }
  return value.substr(scheme.size());
}

// RFC 5801 saslname, as in the OAUTHBEARER GS2 header: "=2C" / "=3D" escapes only.
std::optional<std::string> decode_saslname(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\0' || text[i] == ',') return std::nullopt;
    if (text[i] != '=') {
      out.push_back(text[i]);
    } else if (text.substr(i + 1, 2) == "2C" || text.substr(i + 1, 2) == "3D") {
      out.push_back(text[i + 1] == '2' ? ',' : '=');
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

struct ClientMessage {
  std::string user;  // empty when the client named no user
  std::string token;
};

using Parsed = std::variant<ClientMessage, std::string>;  // the message, or why it is malformed

// RFC 7628: gs2-header %x01 kvpairs %x01, the gs2-header being "n,[a=user]," or "y,[a=user],".
Parsed parse_oauthbearer(std::string_view message) {
  const auto first = message.find(',');
  if (first == std::string_view::npos) return std::string("missing GS2 header");
  const auto flag = message.substr(0, first);
  if (flag != "n" && flag != "y") return std::string("OAUTHBEARER does not do channel binding");
  const auto second = message.find(',', first + 1);
  if (second == std::string_view::npos) return std::string("missing GS2 header");
  const auto authzid = message.substr(first + 1, second - first - 1);
  ClientMessage result;
  if (!authzid.empty()) {
    if (!authzid.starts_with("a=")) return std::string("invalid GS2 authzid");
    auto decoded = decode_saslname(authzid.substr(2));
    if (!decoded || decoded->empty()) return std::string("invalid GS2 authzid");
    result.user = std::move(*decoded);
  }
  const auto rest = message.substr(second + 1);
  if (rest.empty() || rest.front() != separator)
    return std::string("malformed OAUTHBEARER message");
  const auto pairs = parse_key_values(rest.substr(1));
  if (!pairs) return std::string("malformed OAUTHBEARER key/value pairs");
  const auto token = bearer_token(*pairs);
  if (!token) return std::string("no Bearer token in auth");
  result.token = *token;
  return result;
}

// XOAUTH2: "user=" user %x01 "auth=Bearer " token %x01 %x01
Parsed parse_xoauth2(std::string_view message) {
  const auto pairs = parse_key_values(message);
  if (!pairs) return std::string("malformed XOAUTH2 message");
  const auto user = pairs->find("user");
  if (user == pairs->end() || user->second.empty()) return std::string("XOAUTH2 without user");
  const auto token = bearer_token(*pairs);
  if (!token) return std::string("no Bearer token in auth");
  return ClientMessage{user->second, std::string(*token)};
}

class BearerMechanism final : public Mechanism {
 public:
  enum class Kind { oauthbearer, xoauth2 };

  BearerMechanism(Kind kind, OAuthConfig config) : kind_(kind), config_(std::move(config)) {}

  std::string_view name() const override {
    return kind_ == Kind::oauthbearer ? "OAUTHBEARER" : "XOAUTH2";
  }
  const std::string& user() const override { return user_; }

  Step step(std::optional<std::string_view> client_data) override {
    switch (state_) {
      case State::start:
        if (!client_data) {
          state_ = State::want_message;
          return challenge({});
        }
        return check(*client_data);
      case State::want_message:
        if (!client_data) return finish(failure("no client message"));
        return check(*client_data);
      case State::want_error_ack:
        // RFC 7628 3.2.3: the client answers the error with a lone %x01 (XOAUTH2: empty).
        return finish(failure(pending_reason_));
      case State::done: break;
    }
    return exchange_over();
  }

 private:
  enum class State { start, want_message, want_error_ack, done };

  Step finish(Step result) {
    state_ = State::done;
    return result;
  }

  Step check(std::string_view message) {
    if (message.size() > max_message_bytes) return finish(failure("client message too long"));
    Parsed parsed =
        kind_ == Kind::oauthbearer ? parse_oauthbearer(message) : parse_xoauth2(message);
    if (auto* error = std::get_if<std::string>(&parsed)) return finish(failure(std::move(*error)));
    const auto& client = std::get<ClientMessage>(parsed);
    const auto now = config_.clock ? config_.clock() : std::chrono::system_clock::now();
    const JwtCheck token = check_jwt(client.token, config_, now);
    if (!token.valid) return token_error(token.reason);
    if (!client.user.empty() && client.user != token.user) {
      return token_error("user " + client.user + " differs from token claim " + token.user);
    }
    if (!is_valid_username(token.user)) return token_error("token names an invalid user");
    user_ = token.user;
    return finish(success());
  }

  Step token_error(std::string reason) {
    pending_reason_ = std::move(reason);
    state_ = State::want_error_ack;
    return challenge(kind_ == Kind::oauthbearer ? R"({"status":"invalid_token"})"
                                                : R"({"status":"401","schemes":"bearer"})");
  }

  Kind kind_;
  OAuthConfig config_;
  State state_ = State::start;
  std::string pending_reason_;
  std::string user_;
};

}  // namespace

std::unique_ptr<Mechanism> make_oauthbearer(OAuthConfig config) {
  return std::make_unique<BearerMechanism>(BearerMechanism::Kind::oauthbearer, std::move(config));
}

std::unique_ptr<Mechanism> make_xoauth2(OAuthConfig config) {
  return std::make_unique<BearerMechanism>(BearerMechanism::Kind::xoauth2, std::move(config));
}

}  // namespace postern::auth::sasl
