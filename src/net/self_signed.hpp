// A self-signed server certificate for first runs and tests (`postern demo`): EC P-256,
// CN=localhost, subjectAltName localhost and 127.0.0.1, valid one year.
#pragma once

#include <filesystem>
#include <string>

namespace postern::net {

// Writes a new key (mode 0600, never over an existing file) and its certificate (PEM).
// Throws std::runtime_error naming the file or the OpenSSL step that failed.
void write_self_signed_certificate(const std::filesystem::path& certificate,
                                   const std::filesystem::path& private_key,
                                   const std::string& host_name = "localhost");

}  // namespace postern::net
