#include "auth/sasl/scram.hpp"

#include <charconv>
#include <vector>

#include "auth/sasl/base64.hpp"
#include "auth/sasl/digest.hpp"
#include "auth/sasl/step.hpp"
#include "auth/sasl/stored_secret.hpp"
#include "auth/username.hpp"

namespace postern::auth::sasl {
namespace {

constexpr std::size_t max_message_bytes = 8192;
constexpr std::size_t salt_bytes = 16;
constexpr std::size_t nonce_random_bytes = 18;  // 24 base64 characters

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto comma = text.find(',');
    parts.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) return parts;
    text.remove_prefix(comma + 1);
  }
}

// RFC 5802 saslname: "=2C" and "=3D" stand for ',' and '='; any other '=' (or NUL) is invalid.
std::optional<std::string> decode_saslname(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0' || c == ',') return std::nullopt;
    if (c != '=') {
      out.push_back(c);
    } else if (text.substr(i + 1, 2) == "2C") {
      out.push_back(',');
      i += 2;
    } else if (text.substr(i + 1, 2) == "3D") {
      out.push_back('=');
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// printable = %x21-2B / %x2D-7E: visible ASCII except ','.
bool is_valid_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

// An optional extension: ALPHA "=" 1*value-char. Unknown optional ones are ignored.
bool is_valid_extension(std::string_view part) {
  if (part.size() < 3 || part[1] != '=') return false;
  const char a = part[0];
  if (!((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z'))) return false;
  return part.find('\0') == std::string_view::npos;
}

bool starts_with_attr(std::string_view part, char attr) {
  return part.size() >= 2 && part[0] == attr && part[1] == '=';
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a.size(), '\0');
  for (std::size_t i = 0; i < a.size(); ++i) {
    out[i] = static_cast<char>(static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
  }
  return out;
}

class Scram final : public Mechanism {
 public:
  explicit Scram(ScramOptions options) : options_(std::move(options)) {}

  std::string_view name() const override {
    return options_.plus_binding ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
  }
  const std::string& user() const override { return user_; }

  Step step(std::optional<std::string_view> client_data) override {
    switch (state_) {
      case State::start:
        if (!client_data) {
          state_ = State::want_client_first;
          return challenge({});
        }
        return finish_on_failure(client_first(*client_data));
      case State::want_client_first:
        if (!client_data) return finish(failure("no client-first-message"));
        return finish_on_failure(client_first(*client_data));
      case State::want_client_final:
        if (!client_data) return finish(failure("no client-final-message"));
        return finish(client_final(*client_data));
      case State::done: break;
    }
    return exchange_over();
  }

 private:
  enum class State { start, want_client_first, want_client_final, done };

  Step finish(Step result) {
    state_ = State::done;
    return result;
  }
  Step finish_on_failure(Step result) {
    if (result.status == StepStatus::failure) state_ = State::done;
    return result;
  }

  // gs2-header: gs2-cbind-flag "," [ "a=" saslname ] ","
  std::optional<std::string> parse_gs2_header(std::string_view& message) {
    const auto first_comma = message.find(',');
    if (first_comma == std::string_view::npos) return "missing GS2 header";
    const auto flag = message.substr(0, first_comma);
    const auto second_comma = message.find(',', first_comma + 1);
    if (second_comma == std::string_view::npos) return "missing GS2 header";
    const auto authzid = message.substr(first_comma + 1, second_comma - first_comma - 1);
    gs2_header_ = std::string(message.substr(0, second_comma + 1));
    message.remove_prefix(second_comma + 1);

    if (flag == "n" || flag == "y") {
      if (options_.plus_binding) return "SCRAM-SHA-256-PLUS without channel binding";
      if (flag == "y" && options_.server_offers_plus) {
        return "client flag 'y' while the server offers channel binding (downgrade)";
      }
    } else if (flag.starts_with("p=")) {
      if (!options_.plus_binding) return "channel binding requested with SCRAM-SHA-256";
      if (flag != "p=tls-exporter") return "unsupported channel binding type";
    } else {
      return "invalid GS2 channel binding flag";
    }
    if (!authzid.empty()) {
      if (!starts_with_attr(authzid, 'a')) return "invalid GS2 authzid";
      const auto decoded = decode_saslname(authzid.substr(2));
      if (!decoded) return "invalid GS2 authzid";
      authzid_ = *decoded;
    }
    return std::nullopt;
  }

  Step client_first(std::string_view message) {
    if (message.size() > max_message_bytes) return failure("client-first-message too long");
    if (auto error = parse_gs2_header(message)) return failure(std::move(*error));
    client_first_bare_ = message;
    const auto parts = split_commas(message);
    if (!parts.empty() && starts_with_attr(parts[0], 'm')) {
      return failure("unsupported mandatory SCRAM extension");
    }
    if (parts.size() < 2 || !starts_with_attr(parts[0], 'n') || !starts_with_attr(parts[1], 'r')) {
      return failure("malformed client-first-message");
    }
    const auto username = decode_saslname(parts[0].substr(2));
    if (!username) return failure("invalid SCRAM user name");
    const auto client_nonce = parts[1].substr(2);
    if (!is_valid_nonce(client_nonce)) return failure("invalid client nonce");
    for (std::size_t i = 2; i < parts.size(); ++i) {
      if (!is_valid_extension(parts[i])) return failure("malformed client-first-message");
    }
    if (!authzid_.empty() && authzid_ != *username) {
      return failure("authorization identity differs from authentication identity");
    }
    username_ = *username;
    load_keys();

    nonce_ = std::string(client_nonce) + (options_.nonce_source
                                              ? options_.nonce_source()
                                              : encode_base64(random_bytes(nonce_random_bytes)));
    server_first_ =
        "r=" + nonce_ + ",s=" + encode_base64(salt_) + ",i=" + std::to_string(iterations_);
    state_ = State::want_client_final;
    return challenge(server_first_);
  }

  // Unknown users and unusable secrets get made-up keys, so that the exchange looks the same
  // to the client and the failure only comes with the proof: no user enumeration.
  void load_keys() {
    std::optional<std::string> stored;
    if (is_valid_username(username_)) stored = options_.lookup(username_);
    if (!stored) {
      return dummy_keys("unknown user");
    }
    if (auto scram = scram_sha256_secret(*stored)) {
      iterations_ = scram->iterations;
      salt_ = std::move(scram->salt);
      stored_key_ = std::move(scram->stored_key);
      server_key_ = std::move(scram->server_key);
      return;
    }
    const auto plain = plaintext_secret(*stored);
    if (!plain) return dummy_keys("no SCRAM-SHA-256 or plaintext-equivalent secret");
    iterations_ = scram_derived_iterations;
    salt_ = random_bytes(salt_bytes);
    const auto salted = pbkdf2_sha256(*plain, salt_, iterations_);
    stored_key_ = sha256(hmac_sha256(salted, "Client Key"));
    server_key_ = hmac_sha256(salted, "Server Key");
  }

  void dummy_keys(std::string reason) {
    doomed_reason_ = std::move(reason);
    iterations_ = scram_derived_iterations;
    salt_ = random_bytes(salt_bytes);
    stored_key_ = random_bytes(32);
    server_key_ = random_bytes(32);
  }

  // client-final-message: "c=" base64 "," "r=" nonce ["," extensions] "," "p=" base64
  Step client_final(std::string_view message) {
    if (message.size() > max_message_bytes) return failure("client-final-message too long");
    const auto proof_at = message.rfind(",p=");
    if (proof_at == std::string_view::npos) return failure("client-final-message without proof");
    const auto without_proof = message.substr(0, proof_at);
    const auto proof = decode_base64(message.substr(proof_at + 3));
    if (!proof || proof->size() != 32) return failure("malformed client proof");
    const auto parts = split_commas(without_proof);
    if (parts.size() < 2 || !starts_with_attr(parts[0], 'c') || !starts_with_attr(parts[1], 'r')) {
      return failure("malformed client-final-message");
    }
    for (std::size_t i = 2; i < parts.size(); ++i) {
      if (!is_valid_extension(parts[i])) return failure("malformed client-final-message");
    }
    const auto binding = decode_base64(parts[0].substr(2));
    if (!binding) return failure("malformed channel binding attribute");
    const std::string expected_binding = gs2_header_ + options_.plus_binding.value_or("");
    if (!equal_constant_time(*binding, expected_binding))
      return failure("channel binding mismatch");
    if (parts[1].substr(2) != nonce_) return failure("nonce mismatch");
    if (doomed_reason_) return failure(*doomed_reason_);

    const std::string auth_message =
        client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
    const auto client_key = xor_bytes(*proof, hmac_sha256(stored_key_, auth_message));
    if (!equal_constant_time(sha256(client_key), stored_key_)) return failure("wrong password");
    user_ = username_;
    return success("v=" + encode_base64(hmac_sha256(server_key_, auth_message)));
  }

  ScramOptions options_;
  State state_ = State::start;
  std::string gs2_header_;
  std::string authzid_;
  std::string username_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;
  unsigned iterations_ = 0;
  std::string salt_;
  std::string stored_key_;
  std::string server_key_;
  std::optional<std::string> doomed_reason_;
  std::string user_;
};

}  // namespace

std::unique_ptr<Mechanism> make_scram_sha256(ScramOptions options) {
  return std::make_unique<Scram>(std::move(options));
}

}  // namespace postern::auth::sasl
