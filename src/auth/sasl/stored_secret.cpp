#include "auth/sasl/stored_secret.hpp"

#include <array>
#include <charconv>

#include "auth/sasl/base64.hpp"

namespace postern::auth::sasl {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

struct SchemeAndSecret {
  std::string_view scheme;
  std::string_view secret;
};

std::optional<SchemeAndSecret> split_scheme(std::string_view stored) {
  if (stored.empty() || stored.front() != '{') return std::nullopt;
  const auto close = stored.find('}');
  if (close == std::string_view::npos) return std::nullopt;
  return SchemeAndSecret{stored.substr(1, close - 1), stored.substr(close + 1)};
}

constexpr unsigned max_iterations = 10'000'000;

}  // namespace

std::optional<std::string> plaintext_secret(std::string_view stored) {
  const auto parts = split_scheme(stored);
  if (!parts || parts->secret.empty()) return std::nullopt;
  for (std::string_view name : {"PLAIN", "CLEAR", "CLEARTEXT"}) {
    if (iequals(parts->scheme, name)) return std::string(parts->secret);
  }
  return std::nullopt;
}

std::optional<ScramSecret> scram_sha256_secret(std::string_view stored) {
  const auto parts = split_scheme(stored);
  if (!parts || !iequals(parts->scheme, "SCRAM-SHA-256")) return std::nullopt;
  std::array<std::string_view, 4> fields;
  std::string_view rest = parts->secret;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto comma = rest.find(',');
    if ((i + 1 < fields.size()) == (comma == std::string_view::npos)) return std::nullopt;
    fields[i] = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  ScramSecret secret;
  const auto& iter = fields[0];
  const auto [end, ec] = std::from_chars(iter.data(), iter.data() + iter.size(), secret.iterations);
  if (ec != std::errc{} || end != iter.data() + iter.size() || secret.iterations == 0 ||
      secret.iterations > max_iterations) {
    return std::nullopt;
  }
  auto salt = decode_base64(fields[1]);
  auto stored_key = decode_base64(fields[2]);
  auto server_key = decode_base64(fields[3]);
  if (!salt || salt->empty() || !stored_key || stored_key->size() != 32 || !server_key ||
      server_key->size() != 32) {
    return std::nullopt;
  }
  secret.salt = std::move(*salt);
  secret.stored_key = std::move(*stored_key);
  secret.server_key = std::move(*server_key);
  return secret;
}

}  // namespace postern::auth::sasl
