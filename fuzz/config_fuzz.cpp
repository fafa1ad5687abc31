// Fuzzes the TOML configuration loader (src/config) from a string: parse_config must either
// return settings or throw ConfigError naming the file (never anything else, never crash); the
// settings it returns must render (render_config, what `postern check-config` prints) into TOML
// that parses back to the same rendering. The value parsers (durations, sizes, listen addresses)
// get every input line too, and must round-trip through their formatters.
//
// [auth.oauth] public_key reads a file: the corpus names /dev/shm/postern-fuzz-oauth.pem, which
// this target writes at start.
//
// Input: the configuration file's text.
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "fuzz_support.hpp"

namespace postern::fuzz {
namespace {

constexpr std::string_view source = "fuzz.toml";

// Any EC P-256 public key: only its being readable PEM matters to the loader.
constexpr std::string_view oauth_pem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqs6gCTg0LDX43f/+lUroBcHhw8oP\n"
    "TJKJx/h5toSItnS13HPjfmaCYOd5leAsRWUjq/WDcsttA9e9g7ff5r6YVw==\n"
    "-----END PUBLIC KEY-----\n";

void write_oauth_key() {
  namespace fs = std::filesystem;
  if (!fs::is_directory("/dev/shm")) return;  // the seeds that name it then fail to load: fine
  // Written under a private name and renamed: parallel jobs never see half a file.
  const auto temporary = private_directory() / "oauth.pem";
  write_file(temporary, oauth_pem);
  fs::rename(temporary, "/dev/shm/postern-fuzz-oauth.pem");
}

void check_values(std::string_view line) {
  try {
    const auto duration = config::parse_duration(line);
    FUZZ_CHECK(config::parse_duration(config::format_duration(duration)) == duration,
               escaped(line));
  } catch (const std::invalid_argument&) {
  }
  try {
    const auto size = config::parse_size(line);
    FUZZ_CHECK(config::parse_size(config::format_size(size)) == size, escaped(line));
  } catch (const std::invalid_argument&) {
  }
  try {
    const auto listen = config::parse_listen_address(line);
    FUZZ_CHECK(listen.text == line, escaped(listen.text));
    const auto again = config::parse_listen_address(listen.text);
    FUZZ_CHECK(again.host == listen.host && again.port == listen.port, escaped(line));
  } catch (const std::invalid_argument&) {
  }
}

void check_config(std::string_view text) {
  config::Config parsed;
  try {
    parsed = config::parse_config(text, std::string(source));
  } catch (const config::ConfigError& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with(source), e.what());
    return;
  }
  const auto rendered = config::render_config(parsed);
  config::Config again;
  try {
    again = config::parse_config(rendered, std::string(source));
  } catch (const config::ConfigError& e) {
    FUZZ_CHECK(false, std::string("rendered settings refused: ") + e.what() + "\n" + rendered);
  }
  const auto rendered_again = config::render_config(again);
  FUZZ_CHECK(rendered_again == rendered, "first:\n" + rendered + "\nsecond:\n" + rendered_again);
}

}  // namespace
}  // namespace postern::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  postern::fuzz::silence_logging();
  postern::fuzz::write_oauth_key();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::fuzz;
  const auto text = as_text(data, size);
  for (const auto line : split(text, '\n')) check_values(line);
  check_config(text);
  return 0;
}
