#include "fetch/reporter.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fetch/runner.hpp"

namespace postern::fetch {
namespace {

using namespace std::chrono_literals;

std::size_t terminal_width(std::FILE* out) {
  winsize ws{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 80;
}

}  // namespace

TerminalReporter::TerminalReporter(std::FILE* out, bool progress, bool quiet)
    : out_(out), progress_(progress && !quiet), quiet_(quiet) {}

void TerminalReporter::started(const Account& account, std::size_t messages, std::uint64_t octets) {
  const std::lock_guard lock(mutex_);
  accounts_[account.name] =
      Counts{account.label(), messages, 0, 0, octets, std::chrono::steady_clock::now()};
  redraw(true);
}

void TerminalReporter::received(const Account& account, std::uint64_t octets) {
  const std::lock_guard lock(mutex_);
  accounts_[account.name].octets = octets;
  redraw(false);
}

void TerminalReporter::delivered(const Account& account) {
  const std::lock_guard lock(mutex_);
  ++accounts_[account.name].done;
  redraw(false);
}

void TerminalReporter::dialogue(const Account& account, std::string_view line) {
  print(fmt::format("{}: {}", account.label(), line));
}

void TerminalReporter::note(const Account& account, std::string_view text) {
  if (quiet_) return;
  print(fmt::format("postern fetch: {}: {}", account.label(), text));
}

void TerminalReporter::print(std::string_view line) {
  const std::lock_guard lock(mutex_);
  clear_line();
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fputc('\n', out_);
  redraw(true);
}

void TerminalReporter::finish() {
  const std::lock_guard lock(mutex_);
  clear_line();
  progress_ = false;
  std::fflush(out_);
}

void TerminalReporter::clear_line() {
  if (!drawn_) return;
  std::fputs("\r\033[K", out_);
  drawn_ = false;
}

void TerminalReporter::redraw(bool force) {
  if (!progress_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < 100ms) return;
  last_draw_ = now;
  std::string line;
  for (const auto& [name, c] : accounts_) {
    if (c.done >= c.total && c.total > 0 && accounts_.size() > 1) continue;
    const double seconds = std::chrono::duration<double>(now - c.since).count();
    const auto rate =
        seconds > 0.5 ? static_cast<std::uint64_t>(static_cast<double>(c.octets) / seconds) : 0;
    if (!line.empty()) line += " | ";
    line += fmt::format("{} {}/{} {}", c.label, c.done, c.total, format_octets(c.octets));
    if (c.expected > 0) line += fmt::format("/{}", format_octets(c.expected));
    if (rate > 0) line += fmt::format(" {}/s", format_octets(rate));
  }
  const std::size_t width = terminal_width(out_) - 1;
  if (line.size() > width) line = line.substr(0, width);
  std::fputs("\r\033[K", out_);
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
  drawn_ = !line.empty();
}

}  // namespace postern::fetch
