// PLAIN (RFC 4616): "authzid NUL authcid NUL password" in one client message.
// No proxy authorization: authzid must be empty or equal authcid.
#pragma once

#include <memory>

#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {

std::unique_ptr<Mechanism> make_plain(PasswordCheck check);

}  // namespace postern::auth::sasl
