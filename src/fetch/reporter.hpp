// What a person sees while postern fetch runs, all on stderr: on a terminal a one-line progress
// display (account, messages done/total, octets, rate) redrawn at most ten times a second;
// otherwise nothing until the end. Notes and --verbose dialogue lines are printed above it.
// With quiet, only errors (which the CLI prints) appear.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

#include "fetch/fetch_run.hpp"

namespace postern::fetch {

class TerminalReporter final : public RunObserver {
 public:
  // progress: draw the progress line (stderr is a terminal and not quiet).
  TerminalReporter(std::FILE* out, bool progress, bool quiet);

  void started(const Account& account, std::size_t messages, std::uint64_t octets) override;
  void received(const Account& account, std::uint64_t octets) override;
  void delivered(const Account& account) override;
  void dialogue(const Account& account, std::string_view line) override;
  void note(const Account& account, std::string_view text) override;

  // Prints a line above the progress display (errors, summaries).
  void print(std::string_view line);
  // Removes the progress display for good.
  void finish();

 private:
  struct Counts {
    std::string label;
    std::size_t total = 0;
    std::size_t done = 0;
    std::uint64_t octets = 0;
    std::uint64_t expected = 0;
    std::chrono::steady_clock::time_point since;
  };
  void redraw(bool force);  // with mutex_ held
  void clear_line();        // with mutex_ held

  std::FILE* out_;
  bool progress_;
  bool quiet_;
  std::mutex mutex_;
  std::map<std::string, Counts> accounts_;  // by account name
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace postern::fetch
