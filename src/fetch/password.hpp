// An account's password, fetched when the login needs it and from where the account says:
// a command's first output line (like mpop's passwordeval), a file's first line, an
// environment variable, or (one-shot form on a terminal only) a prompt without echo.
#pragma once

#include <string>
#include <string_view>

#include "fetch/account.hpp"

namespace postern::fetch {

// Throws FetchError: config when the source is missing or empty, failure when the command fails.
// `warning` receives a note for the user (a password file others can read), else stays empty.
std::string read_password(const PasswordSource& source, std::string_view account_label,
                          std::string& warning);

}  // namespace postern::fetch
