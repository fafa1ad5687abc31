#include "auth/sasl/login.hpp"

#include "auth/sasl/step.hpp"
#include "auth/username.hpp"

namespace postern::auth::sasl {
namespace {

class Login final : public Mechanism {
 public:
  explicit Login(PasswordCheck check) : check_(std::move(check)) {}

  std::string_view name() const override { return "LOGIN"; }
  const std::string& user() const override { return user_; }

  Step step(std::optional<std::string_view> client_data) override {
    switch (state_) {
      case State::start:
        if (client_data && !client_data->empty()) return take_user(*client_data);
        state_ = State::want_user;
        return challenge("Username:");
      case State::want_user:
        if (!client_data) return finish(failure("no user name"));
        return take_user(*client_data);
      case State::want_password:
        if (!client_data) return finish(failure("no password"));
        return finish(check_password(*client_data));
      case State::done: break;
    }
    return exchange_over();
  }

 private:
  enum class State { start, want_user, want_password, done };

  Step finish(Step result) {
    state_ = State::done;
    return result;
  }

  Step take_user(std::string_view name) {
    if (!is_valid_username(name)) return finish(failure("invalid user name"));
    candidate_ = name;
    state_ = State::want_password;
    return challenge("Password:");
  }

  Step check_password(std::string_view password) {
    if (password.empty()) return failure("empty password");
    if (password.find('\0') != std::string_view::npos) return failure("NUL in password");
    if (!check_(candidate_, password)) return failure("wrong password or unknown user");
    user_ = candidate_;
    return success();
  }

  PasswordCheck check_;
  State state_ = State::start;
  std::string candidate_;
  std::string user_;
};

}  // namespace

std::unique_ptr<Mechanism> make_login(PasswordCheck check) {
  return std::make_unique<Login>(std::move(check));
}

}  // namespace postern::auth::sasl
