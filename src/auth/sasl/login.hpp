// LOGIN (draft-murchison-sasl-login): "Username:" and "Password:" challenges, one answer each.
// An initial response, when a client sends one, is taken as the user name.
#pragma once

#include <memory>

#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {

std::unique_ptr<Mechanism> make_login(PasswordCheck check);

}  // namespace postern::auth::sasl
