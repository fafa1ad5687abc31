// Shared by the libFuzzer targets: FUZZ_CHECK reports a broken invariant and aborts, so that
// libFuzzer saves the input; the helpers cut one input into the pieces a target needs.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace postern::fuzz {

[[noreturn]] inline void invariant_broken(const char* file, int line, const char* condition,
                                          std::string_view detail) {
  std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file, line, condition);
  if (!detail.empty()) {
    std::fprintf(stderr, "  detail: %.*s\n", static_cast<int>(detail.size()), detail.data());
  }
  std::abort();
}

// Bytes shown C-style, for the detail of a broken invariant.
inline std::string escaped(std::string_view bytes, std::size_t limit = 400) {
  std::string out;
  for (const char c : bytes.substr(0, limit)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (byte >= 0x20 && byte < 0x7f) {
      out.push_back(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 0x0f]);
    }
  }
  if (bytes.size() > limit) out += "...";
  return out;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits at every `separator`, keeping empty pieces: "a\n\nb" -> {"a", "", "b"}.
inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  for (;;) {
    const auto end = text.find(separator);
    pieces.push_back(text.substr(0, end));
    if (end == std::string_view::npos) return pieces;
    text.remove_prefix(end + 1);
  }
}

// With POSTERN_FUZZ_SHOW set, a target prints the dialogue it ran: for reading a crash input.
inline void show(std::string_view what, std::string_view bytes) {
  static const bool wanted = std::getenv("POSTERN_FUZZ_SHOW") != nullptr;
  if (!wanted) return;
  std::fprintf(stderr, "--- %.*s\n", static_cast<int>(what.size()), what.data());
  for (const auto line : split(bytes, '\n')) {
    const auto text = escaped(line, 2000);
    std::fprintf(stderr, "  %s\n", text.c_str());
  }
}

// A directory of this process's own for targets whose code only reads files: on tmpfs when
// there is one, named after the process, since parallel fuzzing jobs run side by side. libFuzzer
// ends without running exit handlers, so each start removes what dead processes left behind.
inline const std::filesystem::path& private_directory() {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    const fs::path base =
        fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    constexpr std::string_view prefix = "postern-fuzz-";
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(base, ignored)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with(prefix)) continue;
      const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        fs::remove_all(entry.path(), ignored);
      }
    }
    fs::path mine = base / (std::string(prefix) + std::to_string(::getpid()));
    fs::remove_all(mine, ignored);
    fs::create_directory(mine);
    return mine;
  }();
  return dir;
}

// Replaces the file's contents; aborts if the private directory cannot be written.
inline void write_file(const std::filesystem::path& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) invariant_broken(__FILE__, __LINE__, "open", path.string());
  while (!text.empty()) {
    const auto n = ::write(fd, text.data(), text.size());
    if (n <= 0) invariant_broken(__FILE__, __LINE__, "write", path.string());
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  ::close(fd);
}

// Logging is for people; under a fuzzer it is only noise and time.
inline void silence_logging() {
  spdlog::set_level(spdlog::level::off);
}

}  // namespace postern::fuzz

// Checks a condition that must hold for every input; detail (a std::string) says what was seen.
#define FUZZ_CHECK(condition, detail)                                                            \
  do {                                                                                           \
    if (!(condition)) ::postern::fuzz::invariant_broken(__FILE__, __LINE__, #condition, detail); \
  } while (false)
