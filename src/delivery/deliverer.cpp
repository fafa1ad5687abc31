// Deliverer: recipient lookup, size and quota checks, envelope headers and the Maildir write, with
// every failure turned into a DeliveryStatus the CLI and LMTP map to exit codes and replies.
#include "delivery/deliverer.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <new>

#include "auth/username.hpp"
#include "store/maildir_delivery.hpp"
#include "store/posix_io.hpp"
#include "store/printable.hpp"

namespace postern::delivery {
namespace {

// A header value without control characters: CR and LF would start a header line of the
// sender's choosing, the others have no business in an address.
std::string header_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7F) out += c;
  }
  return out;
}

std::string envelope_headers(const Recipient& recipient, const Envelope& envelope) {
  std::string headers;
  if (envelope.has_sender) {
    std::string_view sender = envelope.sender;
    if (sender.size() >= 2 && sender.front() == '<' && sender.back() == '>') {
      sender = sender.substr(1, sender.size() - 2);
    }
    headers += fmt::format("Return-Path: <{}>\n", header_value(sender));
  }
  if (envelope.add_delivered_to) {
    const std::string& address = recipient.address.empty() ? recipient.user : recipient.address;
    headers += fmt::format("Delivered-To: {}\n", header_value(address));
  }
  return headers;
}

DeliveryResult failure(DeliveryStatus status, std::string detail) {
  DeliveryResult result;
  result.status = status;
  result.detail = std::move(detail);
  return result;
}

DeliveryResult store_failure(const store::StoreError& e) {
  if (e.sys_errno() != 0) return failure(status_for_errno(e.sys_errno()), e.what());
  // No errno: a lock (never taken here) or a name or home that cannot form a safe path.
  return failure(e.code() == store::StoreErrc::permanent ? DeliveryStatus::cannot_create
                                                         : DeliveryStatus::temporary_failure,
                 e.what());
}

std::string quota_text(const Quota& quota, bool bytes_exceeded) {
  if (bytes_exceeded) return fmt::format("quota of {} exceeded", config::format_size(quota.bytes));
  return fmt::format("quota of {} messages exceeded", quota.messages);
}

}  // namespace

Deliverer::Deliverer(auth::Passdb& passdb, const store::MaildirStore& store,
                     const config::DeliverySettings& settings)
    : passdb_(passdb), store_(store), settings_(settings) {}

Lookup Deliverer::lookup(std::string_view address) const {
  std::array<std::string_view, 2> candidates{address, {}};
  if (settings_.local_part_fallback) {
    if (const auto at = address.rfind('@'); at != std::string_view::npos) {
      candidates[1] = address.substr(0, at);
    }
  }
  for (const std::string_view name : candidates) {
    if (!auth::is_valid_username(name)) continue;
    std::optional<auth::UserRecord> record;
    try {
      record = passdb_.lookup(name);
    } catch (const std::exception& e) {
      return Lookup{DeliveryStatus::temporary_failure, std::nullopt,
                    fmt::format("user database unavailable: {}", e.what())};
    }
    if (!record) continue;
    Recipient recipient{std::string(address), record->user, record->home, {}};
    try {
      recipient.quota =
          quota_from_fields(record->extra, Quota{settings_.quota_bytes, settings_.quota_messages});
    } catch (const std::invalid_argument& e) {
      return Lookup{DeliveryStatus::temporary_failure, std::nullopt,
                    fmt::format("user {}: {}", store::printable(record->user), e.what())};
    }
    return Lookup{DeliveryStatus::delivered, std::move(recipient), {}};
  }
  return Lookup{DeliveryStatus::unknown_user, std::nullopt,
                fmt::format("unknown user {}", store::printable(address))};
}

bool Deliverer::over_quota(const Recipient& recipient, std::uint64_t size) const {
  const Quota& quota = recipient.quota;
  if (quota.bytes == 0 && quota.messages == 0) return false;
  try {
    const Usage usage = maildir_usage(store_.maildir_path({recipient.user, recipient.home}));
    return (quota.bytes != 0 && usage.bytes + size > quota.bytes) ||
           (quota.messages != 0 && usage.messages + 1 > quota.messages);
  } catch (const std::exception&) {
    return false;
  }
}

DeliveryResult Deliverer::deliver(const Recipient& recipient, const Envelope& envelope,
                                  std::string_view message) const {
  try {
    if (message.size() > settings_.max_message_size) {
      return failure(DeliveryStatus::too_large,
                     fmt::format("message too large: {} bytes, the limit is {}", message.size(),
                                 config::format_size(settings_.max_message_size)));
    }
    const std::string headers = envelope_headers(recipient, envelope);
    const std::uint64_t stored_size = headers.size() + message.size();
    const std::filesystem::path maildir = store_.maildir_path({recipient.user, recipient.home});
    const Quota& quota = recipient.quota;
    if (quota.bytes != 0 || quota.messages != 0) {
      const Usage usage = maildir_usage(maildir);
      const bool bytes_exceeded = quota.bytes != 0 && usage.bytes + stored_size > quota.bytes;
      const bool messages_exceeded = quota.messages != 0 && usage.messages + 1 > quota.messages;
      if (bytes_exceeded || messages_exceeded) {
        DeliveryResult result =
            failure(DeliveryStatus::over_quota,
                    fmt::format("mailbox full: {}", quota_text(quota, bytes_exceeded)));
        result.defer = settings_.quota_exceeded == config::QuotaExceeded::defer;
        return result;
      }
    }
    const std::array<std::string_view, 2> pieces{headers, message};
    DeliveryResult result;
    result.unique_name = store::deliver_to_maildir(maildir, pieces);
    result.status = DeliveryStatus::delivered;
    return result;
  } catch (const store::StoreError& e) {
    return store_failure(e);
  } catch (const std::bad_alloc&) {
    return failure(DeliveryStatus::temporary_failure, "out of memory");
  } catch (const std::exception& e) {
    return failure(DeliveryStatus::io_error, e.what());
  }
}

DeliveryStatus status_for_errno(int err) noexcept {
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOTDIR:
    case EISDIR:
    case ELOOP: return DeliveryStatus::cannot_create;
    default: break;
  }
  return store::errc_for_errno(err) == store::StoreErrc::temporary
             ? DeliveryStatus::temporary_failure
             : DeliveryStatus::io_error;
}

std::string_view enhanced_status_code(DeliveryStatus status, bool defer) noexcept {
  switch (status) {
    case DeliveryStatus::delivered: return "2.0.0";
    case DeliveryStatus::unknown_user: return "5.1.1";
    case DeliveryStatus::over_quota: return defer ? "4.2.2" : "5.2.2";
    case DeliveryStatus::too_large: return "5.3.4";
    case DeliveryStatus::temporary_failure: return "4.3.0";
    case DeliveryStatus::cannot_create: return "5.2.0";
    case DeliveryStatus::io_error: return "5.3.0";
  }
  return "4.3.0";
}

std::string to_lf(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  while (!message.empty()) {
    const auto* cr = static_cast<const char*>(std::memchr(message.data(), '\r', message.size()));
    if (cr == nullptr) {
      out.append(message);
      break;
    }
    const auto at = static_cast<std::size_t>(cr - message.data());
    const bool crlf = at + 1 < message.size() && message[at + 1] == '\n';
    // Up to the CR for a CRLF (the LF follows with the next run), through it for a lone CR.
    out.append(message.substr(0, crlf ? at : at + 1));
    message.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace postern::delivery
