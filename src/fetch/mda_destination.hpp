// Delivery through an MDA command (procmail, maildrop, dovecot-lda, a script): the message is
// spooled first, so the command never sees a message the network cut short, then given to
// `/bin/sh -c COMMAND` on stdin. Exit 0: delivered. Exit 75 (EX_TEMPFAIL): not delivered, the
// account stops and the message is tried again next run. Anything else: an error.
//
// At-least-once, not exactly-once: a crash after the command ran but before "done" reached the
// journal cannot be settled, because an MDA cannot be asked whether it already has the message.
// Such a message is delivered again on the next run (with a note). The window is small: "done"
// is fsynced as soon as the command exits.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "fetch/destination.hpp"

namespace postern::fetch {

std::unique_ptr<Destination> make_mda_destination(const std::string& command,
                                                  const std::filesystem::path& spool);

}  // namespace postern::fetch
