// CRAM-MD5 (RFC 2195): the server sends "<random.timestamp@host>", the client answers
// "user SP hex(HMAC-MD5(password, challenge))". Works only for plaintext-equivalent secrets.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "auth/sasl/mechanism.hpp"

namespace postern::auth::sasl {

// nonce_source may be empty (random); hostname ends the challenge.
std::unique_ptr<Mechanism> make_cram_md5(SecretLookup lookup, std::string hostname,
                                         std::function<std::string()> nonce_source);

}  // namespace postern::auth::sasl
