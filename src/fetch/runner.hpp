// Several accounts at once: each on its own thread, at most `jobs` at a time (accounts are
// independent: separate connections, state folders and locks). Also the words and numbers the
// run ends with: one summary line per account and one exit code for all.
#pragma once

#include <string>
#include <vector>

#include "fetch/fetch_run.hpp"

namespace postern::fetch {

// Results in the order of `accounts`.
std::vector<AccountResult> fetch_accounts(const std::vector<Account>& accounts,
                                          const RunOptions& options, RunObserver& observer,
                                          unsigned jobs);

// "alice@host: 12 new, 3.2 MB, 0 errors" (with ", N headers only", ", N skipped",
// ", N deleted" when not zero).
std::string summary_line(const AccountResult& result);

// 0 when every account went well (nothing new included). When some failed: their common code
// (75 temporary, 77 authentication, 78 configuration, 1 anything else); 1 when they differ.
int exit_code_for(const std::vector<AccountResult>& results);

// 3.2 MB, 512 kB, 17 B (decimal units).
std::string format_octets(std::uint64_t octets);

}  // namespace postern::fetch
