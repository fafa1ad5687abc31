#include "auth/sasl/cram_md5.hpp"

#include <chrono>
#include <cstdint>
#include <cstring>

#include "auth/sasl/digest.hpp"
#include "auth/sasl/step.hpp"
#include "auth/sasl/stored_secret.hpp"
#include "auth/username.hpp"

namespace postern::auth::sasl {
namespace {

std::string random_decimal() {
  const std::string raw = random_bytes(sizeof(std::uint64_t));
  std::uint64_t n = 0;
  std::memcpy(&n, raw.data(), sizeof n);
  return std::to_string(n);
}

class CramMd5 final : public Mechanism {
 public:
  CramMd5(SecretLookup lookup, std::string hostname, std::function<std::string()> nonce_source)
      : lookup_(std::move(lookup)),
        hostname_(hostname.empty() ? "localhost" : std::move(hostname)),
        nonce_source_(std::move(nonce_source)) {}

  std::string_view name() const override { return "CRAM-MD5"; }
  const std::string& user() const override { return user_; }

  Step step(std::optional<std::string_view> client_data) override {
    switch (state_) {
      case State::start: {
        // A server-first mechanism: an initial response, even an empty one, is a client error.
        if (client_data) return finish(failure("initial response to a server-first mechanism"));
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::system_clock::now().time_since_epoch());
        challenge_ = "<" + (nonce_source_ ? nonce_source_() : random_decimal()) + "." +
                     std::to_string(seconds.count()) + "@" + hostname_ + ">";
        state_ = State::want_response;
        return challenge(challenge_);
      }
      case State::want_response:
        if (!client_data) return finish(failure("no client response"));
        return finish(check(*client_data));
      case State::done: break;
    }
    return exchange_over();
  }

 private:
  enum class State { start, want_response, done };

  Step finish(Step result) {
    state_ = State::done;
    return result;
  }

  Step check(std::string_view response) {
    // RFC 2195: the digest follows the last space, so user names could hold spaces; ours cannot.
    const auto space = response.rfind(' ');
    if (space == std::string_view::npos) return failure("CRAM-MD5 response without a space");
    const auto name = response.substr(0, space);
    const auto digest = from_hex(response.substr(space + 1));
    if (!digest || digest->size() != 16) return failure("CRAM-MD5 digest is not 32 hex digits");
    if (!is_valid_username(name)) return failure("invalid user name");
    const auto stored = lookup_(name);
    if (!stored) return failure("unknown user");
    const auto secret = plaintext_secret(*stored);
    if (!secret) return failure("no plaintext-equivalent secret");
    if (!equal_constant_time(hmac_md5(*secret, challenge_), *digest)) {
      return failure("wrong password");
    }
    user_ = name;
    return success();
  }

  SecretLookup lookup_;
  std::string hostname_;
  std::function<std::string()> nonce_source_;
  State state_ = State::start;
  std::string challenge_;
  std::string user_;
};

}  // namespace

std::unique_ptr<Mechanism> make_cram_md5(SecretLookup lookup, std::string hostname,
                                         std::function<std::string()> nonce_source) {
  return std::make_unique<CramMd5>(std::move(lookup), std::move(hostname), std::move(nonce_source));
}

}  // namespace postern::auth::sasl
