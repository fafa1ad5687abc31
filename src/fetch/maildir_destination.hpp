// Delivery into a Maildir with a name fixed before the download, so that the journal can say
// where a message would be: <secs>.M<usecs>P<pid>Q<n>.<host>, written in tmp/, fsynced, renamed
// into new/ (never over an existing file). A mail reader may later move it to cur/NAME:2,...,
// which reconciliation also recognises.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fetch/destination.hpp"

namespace postern::fetch {

std::unique_ptr<Destination> make_maildir_destination(const std::filesystem::path& maildir);

// "<secs>.M<usecs>P<pid>Q<n>.<host>": unique per process and call, host escaped as Maildir says.
std::string make_maildir_name();

// details: "maildir NAME PATH" each. Delivered when new/NAME, cur/NAME or cur/NAME:... exists;
// a leftover tmp/NAME is removed either way. All at once, so each cur/ is listed only once.
std::vector<Reconciled> reconcile_maildir(const std::vector<std::string_view>& details);

}  // namespace postern::fetch
