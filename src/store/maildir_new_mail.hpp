// Taking mail out of new/, as every Maildir reader does when a session starts: new/X becomes
// cur/X:2, so other readers see it as seen-by-a-client and postern lists it from cur/ alone.
#pragma once

#include <filesystem>

namespace postern::store {

// Moves every regular, non-dot file of maildir/new into the directory open at cur_fd. A file
// another reader took first is skipped quietly, one that cannot be moved with a warning (it waits
// in new/ for the next session). Returns whether anything moved. Throws StoreError on new/ itself.
bool move_new_to_cur(const std::filesystem::path& maildir, int cur_fd);

}  // namespace postern::store
