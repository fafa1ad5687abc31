#include "fetch/destination.hpp"

#include <fmt/format.h>

#include "fetch/error.hpp"
#include "fetch/maildir_destination.hpp"
#include "fetch/mbox_destination.hpp"
#include "fetch/mda_destination.hpp"

namespace postern::fetch {

std::unique_ptr<Destination> make_destination(const Account& account,
                                              const std::filesystem::path& spool) {
  switch (account.deliver) {
    case DeliverTo::maildir: return make_maildir_destination(account.deliver_path);
    case DeliverTo::mbox: return make_mbox_destination(account.deliver_path, spool);
    case DeliverTo::mda: return make_mda_destination(account.mda_command, spool);
  }
  return nullptr;
}

std::vector<Reconciled> reconcile_intents(const std::vector<std::string>& details,
                                          const std::filesystem::path& spool,
                                          std::vector<std::string>& notes) {
  std::vector<Reconciled> out(details.size(), Reconciled::not_delivered);
  notes.assign(details.size(), {});
  std::vector<std::string_view> maildir;
  std::vector<std::size_t> maildir_at;
  for (std::size_t i = 0; i < details.size(); ++i) {
    const std::string& detail = details[i];
    if (detail.starts_with("maildir ")) {
      maildir.push_back(detail);
      maildir_at.push_back(i);
    } else if (detail.starts_with("mbox ")) {
      out[i] = reconcile_mbox(detail, spool, notes[i]);
    } else if (detail == "mda") {
      notes[i] =
          "a delivery through the MDA was interrupted; the MDA cannot be asked whether it got "
          "the message, so it is delivered again (it may arrive twice)";
    } else {
      throw FetchError(ErrorKind::failure, fmt::format("damaged journal intent \"{}\"", detail));
    }
  }
  const auto settled = reconcile_maildir(maildir);
  for (std::size_t k = 0; k < settled.size(); ++k) out[maildir_at[k]] = settled[k];
  return out;
}

}  // namespace postern::fetch
