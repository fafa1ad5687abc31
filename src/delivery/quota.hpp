// Quotas: per-user limits from the passwd-file's extra fields over a server-wide default, and the
// usage of a maildir. Enforced at delivery only (POP3 never looks at them).
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace postern::delivery {

struct Quota {
  std::uint64_t bytes = 0;     // 0 = unlimited
  std::uint64_t messages = 0;  // 0 = unlimited
  bool operator==(const Quota&) const = default;
};

// Reads the quota fields among a passwd-file line's extra fields (docs/delivery.md):
//   userdb_quota_rule=*:storage=1G  userdb_quota_rule=*:messages=5000 (also combined,
//   "*:storage=1G:messages=5000"; "userdb_" prefix optional, quota_rule2.. accepted),
//   quota_bytes=1G, quota_messages=5000 (also with the "userdb_" prefix).
// Fields not given keep the default; "0" or "storage=0" means unlimited. A malformed value
// throws std::invalid_argument naming the field.
Quota quota_from_fields(const std::vector<std::string>& extra, const Quota& defaults);

struct Usage {
  std::uint64_t bytes = 0;
  std::uint64_t messages = 0;
};

// The messages in new/ and cur/ and their sizes (from the ,S= in the name when present, else
// stat). A missing maildir is empty. Throws store::StoreError on an unreadable directory.
Usage maildir_usage(const std::filesystem::path& maildir);

}  // namespace postern::delivery
