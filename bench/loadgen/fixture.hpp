// `postern-bench fixture`: writes the benchmark's Maildirs, the same files for every server, so
// that postern and Dovecot serve identical mail and the client knows every octet to expect.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "content.hpp"

namespace postern::bench {

struct FixtureOptions {
  std::filesystem::path root;  // ROOT/USER/{new,cur,tmp}
  MailSet set = MailSet::session;
  std::vector<std::string> users;
  MailParams params;
  bool in_cur = false;               // cur/NAME:2, (already seen) instead of new/NAME
  bool size_in_name = false;         // NAME,S=<stored size>,W=<wire size>, as Dovecot's LDA writes
  std::optional<std::string> owner;  // a system user to own everything (Dovecot needs that)
};

// Returns the number of message files written; throws std::runtime_error naming the path.
std::size_t write_fixture(const FixtureOptions& options);

}  // namespace postern::bench
