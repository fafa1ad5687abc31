// OAUTHBEARER (RFC 7628) and Google's XOAUTH2: the client presents a bearer token (a JWT checked
// by jwt.hpp). A bad token gets an error challenge first, and the failure after the client's reply.
#pragma once

#include <memory>

#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {

std::unique_ptr<Mechanism> make_oauthbearer(OAuthConfig config);
std::unique_ptr<Mechanism> make_xoauth2(OAuthConfig config);

}  // namespace postern::auth::sasl
