#include "store/maildir.hpp"

#include "store/maildir_maildrop.hpp"

namespace postern::store {

MaildirStore::MaildirStore(std::string path_template) : template_(std::move(path_template)) {}

std::unique_ptr<Maildrop> MaildirStore::open(const MaildropOwner& owner) {
  return MaildirMaildrop::open(maildir_path(owner), owner.user);
}

std::filesystem::path MaildirStore::maildir_path(const MaildropOwner& owner) const {
  return template_.expand(owner);
}

}  // namespace postern::store
