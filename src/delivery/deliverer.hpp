// Deliverer: puts one message into one user's maildrop, for `postern deliver` and the LMTP
// listener alike: recipient lookup in the passdb, quota check, Return-Path / Delivered-To
// headers, atomic Maildir delivery. Blocking (passdb, directory scan, fsync): LMTP calls it on the
// blocking pool. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/passdb.hpp"
#include "config/config.hpp"
#include "delivery/quota.hpp"
#include "store/maildir.hpp"

namespace postern::delivery {

enum class DeliveryStatus {
  delivered,          // complete and durable in new/
  unknown_user,       // no such user: LMTP 550 5.1.1, exit 67
  over_quota,         // LMTP 552 5.2.2 (bounce) or 452 4.2.2 (defer), exit 77 or 75
  too_large,          // larger than [delivery] max_message_size: 552 5.3.4, exit 77
  temporary_failure,  // disk full, EIO, passdb unreadable: LMTP 451 4.3.0, exit 75
  cannot_create,      // maildir not creatable / not writable (permissions, read-only): exit 73
  io_error,           // other I/O trouble that will not fix itself: LMTP 554 5.3.0, exit 74
};

// A recipient resolved against the passdb: who gets it, and their limits.
struct Recipient {
  std::string address;  // as the MTA gave it (LMTP RCPT TO, --recipient); may be empty
  std::string user;     // the passwd-file user name it resolved to
  std::string home;
  Quota quota;  // per-user fields over the server-wide default
};

struct Lookup {
  DeliveryStatus status = DeliveryStatus::unknown_user;  // delivered (= found), unknown_user,
                                                         // temporary_failure
  std::optional<Recipient> recipient;                    // set when found
  std::string detail;                                    // for logs and error text
};

struct Envelope {
  // MAIL FROM / --sender, without angle brackets (one surrounding pair is removed if present).
  // has_sender false: no Return-Path header; has_sender with an empty sender (the null sender):
  // "Return-Path: <>".
  std::string sender;
  bool has_sender = false;
  // "Delivered-To: ADDRESS" with recipient.address (no angle brackets, as Postfix writes it;
  // the user name when the address is empty).
  bool add_delivered_to = false;
};

struct DeliveryResult {
  DeliveryStatus status = DeliveryStatus::temporary_failure;
  std::string detail;       // human-readable, for logs, LMTP reply text and stderr
  std::string unique_name;  // the Maildir name in new/, when delivered
  // The quota verdict, when over_quota: whether [delivery] quota_exceeded says to defer.
  bool defer = false;
};

class Deliverer {
 public:
  Deliverer(auth::Passdb& passdb, const store::MaildirStore& store,
            const config::DeliverySettings& settings);

  // Finds the user an address (or a bare user name) belongs to: the exact name first, then,
  // with local_part_fallback, the part before the last '@'. A name auth::is_valid_username
  // refuses is unknown_user. temporary_failure when Passdb::lookup throws (the user database is
  // unavailable) or the user's quota field is malformed (detail names the user and the field:
  // an administrator's typo defers mail instead of bouncing it). Never throws.
  Lookup lookup(std::string_view address) const;

  // Whether one more message of `size` bytes would exceed the recipient's quota right now.
  // Never throws; an unreadable maildrop counts as not over quota (delivery will report it).
  bool over_quota(const Recipient& recipient, std::uint64_t size) const;

  // Delivers `message` (LF line ends; the caller converts) with the envelope's headers put in
  // front, after checking size (the message without those headers against max_message_size) and
  // quota (usage + the stored size, headers included, must stay within the limits). Header values
  // lose every control character, so an address holding CR or LF can never add a header line.
  // Never throws: every failure is a status. Concurrent deliveries to one maildrop are safe; the
  // quota check is not atomic with the write, so racing deliveries may overshoot it slightly.
  // Never takes the POP3 maildrop lock: a session that is open sees the message next time.
  DeliveryResult deliver(const Recipient& recipient, const Envelope& envelope,
                         std::string_view message) const;

 private:
  auth::Passdb& passdb_;
  const store::MaildirStore& store_;
  config::DeliverySettings settings_;
};

// Maps a store failure to a status by its errno: ENOSPC, EDQUOT, EIO, EMFILE, ENOMEM and the
// like are temporary_failure (EIO too: a disk that fails may be repaired, and deferring loses no
// mail); EACCES, EPERM, EROFS, ENOTDIR, EISDIR, ELOOP are cannot_create; anything else io_error.
DeliveryStatus status_for_errno(int err) noexcept;

// The RFC 3463 enhanced status code of a status, for `postern deliver`'s stderr line and LMTP
// replies: 2.0.0, 5.1.1, 5.2.2 (4.2.2 when defer), 5.3.4, 4.3.0, 5.2.0 (cannot_create), 5.3.0.
std::string_view enhanced_status_code(DeliveryStatus status, bool defer = false) noexcept;

// CRLF -> LF for storage (a CR not followed by LF stays). Delivered messages are stored with LF
// line ends, the Maildir convention; POP3 converts back on RETR.
std::string to_lf(std::string_view message);

}  // namespace postern::delivery
