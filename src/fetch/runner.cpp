#include "fetch/runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

namespace postern::fetch {

std::vector<AccountResult> fetch_accounts(const std::vector<Account>& accounts,
                                          const RunOptions& options, RunObserver& observer,
                                          unsigned jobs) {
  std::vector<AccountResult> results(accounts.size());
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (std::size_t i = next++; i < accounts.size(); i = next++) {
      results[i] = fetch_account(accounts[i], options, observer);
    }
  };
  const std::size_t threads = std::min<std::size_t>(std::max(1u, jobs), accounts.size());
  if (threads <= 1) {
    worker();
    return results;
  }
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& thread : pool) thread.join();
  return results;
}

std::string format_octets(std::uint64_t octets) {
  if (octets < 1000) return fmt::format("{} B", octets);
  const char* units[] = {"kB", "MB", "GB", "TB"};
  double value = static_cast<double>(octets) / 1000.0;
  std::size_t unit = 0;
  while (value >= 1000.0 && unit + 1 < std::size(units)) {
    value /= 1000.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

std::string summary_line(const AccountResult& r) {
  std::string out = fmt::format("{}: {} new, {}", r.label, r.fetched, format_octets(r.octets));
  if (r.headers_only > 0) out += fmt::format(", {} headers only", r.headers_only);
  if (r.skipped > 0) out += fmt::format(", {} skipped (over max_size)", r.skipped);
  if (r.deleted > 0) out += fmt::format(", {} deleted", r.deleted);
  const std::size_t errors = r.message_errors + (r.error ? 1 : 0);
  out += fmt::format(", {} error{}", errors, errors == 1 ? "" : "s");
  return out;
}

int exit_code_for(const std::vector<AccountResult>& results) {
  std::set<int> codes;
  for (const auto& r : results) {
    if (r.error) {
      codes.insert(exit_code_of(r.error->kind()));
    } else if (r.message_errors > 0) {
      codes.insert(1);
    }
  }
  if (codes.empty()) return 0;
  return codes.size() == 1 ? *codes.begin() : 1;
}

}  // namespace postern::fetch
