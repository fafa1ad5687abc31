// One intent through reconcile_intents(), for the destination tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "fetch/destination.hpp"

namespace postern::fetch::testing {

inline Reconciled reconcile_one(const std::string& detail, const std::filesystem::path& spool,
                                std::string& note) {
  std::vector<std::string> notes;
  const auto settled = reconcile_intents({detail}, spool, notes);
  note = notes.at(0);
  return settled.at(0);
}

}  // namespace postern::fetch::testing
