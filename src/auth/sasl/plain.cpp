#include "auth/sasl/plain.hpp"

#include "auth/sasl/step.hpp"
#include "auth/username.hpp"

namespace postern::auth::sasl {
namespace {

class Plain final : public Mechanism {
 public:
  explicit Plain(PasswordCheck check) : check_(std::move(check)) {}

  std::string_view name() const override { return "PLAIN"; }
  const std::string& user() const override { return user_; }

  Step step(std::optional<std::string_view> client_data) override {
    if (done_) return exchange_over();
    if (!client_data) {
      if (asked_) return finish(failure("no client response"));
      asked_ = true;
      return challenge({});  // RFC 4422: an empty challenge asks for the initial response
    }
    return finish(check(*client_data));
  }

 private:
  Step finish(Step result) {
    done_ = true;
    return result;
  }

  Step check(std::string_view message) {
    const auto first = message.find('\0');
    if (first == std::string_view::npos) return failure("PLAIN message without NUL separators");
    const auto second = message.find('\0', first + 1);
    if (second == std::string_view::npos) return failure("PLAIN message with one NUL separator");
    if (message.find('\0', second + 1) != std::string_view::npos) {
      return failure("PLAIN message with more than two NUL separators");
    }
    const auto authzid = message.substr(0, first);
    const auto authcid = message.substr(first + 1, second - first - 1);
    const auto password = message.substr(second + 1);
    if (!is_valid_username(authcid)) return failure("invalid authentication identity");
    if (!authzid.empty() && authzid != authcid) {
      return failure("authorization identity differs from authentication identity");
    }
    if (password.empty()) return failure("empty password");
    if (!check_(authcid, password)) return failure("wrong password or unknown user");
    user_ = authcid;
    return success();
  }

  PasswordCheck check_;
  std::string user_;
  bool asked_ = false;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<Mechanism> make_plain(PasswordCheck check) {
  return std::make_unique<Plain>(std::move(check));
}

}  // namespace postern::auth::sasl
