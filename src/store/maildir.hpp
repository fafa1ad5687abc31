// The Maildir backend of MaildropStore: where each owner's maildir lives, and opening it.
// Safe to call from several worker threads at once; per-session state lives in the Maildrop.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "store/maildrop.hpp"
#include "store/path_template.hpp"

namespace postern::store {

class MaildirStore final : public MaildropStore {
 public:
  // path_template: e.g. "/var/mail/%d/%n". %u whole user name, %n local part (before '@'; whole
  // name if no '@'), %d domain (after '@'; empty if none), %h the owner's home, %% a literal '%'.
  // Any other %x, or a '%' at the end, throws std::invalid_argument naming template and sequence.
  explicit MaildirStore(std::string path_template);

  // Creates the maildir if missing, takes the session lock (StoreError in_use when held), moves
  // new/ mail to cur/ and snapshots cur/ with sizes from the persistent index.
  std::unique_ptr<Maildrop> open(const MaildropOwner& owner) override;

  // Throws StoreError(permanent) when the owner's name or home cannot form a safe path.
  std::filesystem::path maildir_path(const MaildropOwner& owner) const;

 private:
  PathTemplate template_;
};

}  // namespace postern::store
