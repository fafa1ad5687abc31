#include "fetch/fetch_run.hpp"

#include <fmt/format.h>

#include <deque>
#include <set>

#include "fetch/capabilities.hpp"
#include "fetch/connection.hpp"
#include "fetch/destination.hpp"
#include "fetch/login_choice.hpp"
#include "fetch/password.hpp"
#include "fetch/pop3_client.hpp"
#include "fetch/subprocess.hpp"

namespace postern::fetch {
namespace {

constexpr const char* uidls_file = "uidls";
constexpr const char* journal_file = "journal";
constexpr const char* spool_file = "spool";
constexpr std::size_t dele_window = 64;
constexpr std::size_t intent_chunk = 64;
constexpr std::uint64_t progress_step = 64 * 1024;
constexpr std::int64_t seconds_per_day = 86400;

struct Message {
  std::uint64_t number = 0;
  std::string uidl;  // empty without UIDL
  std::uint64_t size = 0;
};

struct Job {
  Message message;
  bool headers_only = false;
  std::string detail;  // the destination's plan, journaled before RETR
};

std::int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void protocol_error(std::string_view what) {
  throw FetchError(ErrorKind::failure, fmt::format("protocol error: {}", what));
}

class AccountRun {
 public:
  AccountRun(const Account& account, const RunOptions& options, RunObserver& observer,
             AccountResult& result)
      : account_(account), options_(options), observer_(observer), result_(result) {}

  void run();

 private:
  std::int64_t now() const { return options_.clock ? options_.clock() : system_now(); }
  void step(std::string_view name) const {
    if (options_.step) options_.step(name);
  }
  void note(std::string_view text) const { observer_.note(account_, text); }

  std::unique_ptr<Stream> open_connection();
  Capabilities log_in(Pop3Client& client, Stream& stream);
  std::vector<Message> list(Pop3Client& client, bool& have_uidl);
  bool oversize(std::uint64_t size) const { return account_.max_size && size > *account_.max_size; }
  bool due_for_deletion(const Delivered& d) const;
  void plan(const std::vector<Message>& messages, bool have_uidl, bool top_ok,
            const DeliveredMap& delivered, std::vector<Job>& jobs, std::vector<Message>& to_delete);
  void fetch_all(Pop3Client& client, Destination& destination, Journal* journal,
                 std::vector<Job>& jobs, std::size_t window, DeliveredMap& done,
                 std::vector<Message>& to_delete);
  // Finished messages waiting to be committed together, and where their results go.
  struct Finished {
    Job* job;
    std::unique_ptr<Delivery> delivery;
  };
  struct Batch {
    Destination& destination;
    Journal* journal;  // null without UIDL
    DeliveredMap& done;
    std::vector<Message>& to_delete;
    std::vector<Finished> finished;
  };
  void receive(Pop3Client& client, Batch& batch, Job& job);
  void commit_batch(Pop3Client& client, Batch& batch);
  void abort_record(Batch& batch, const Job& job);
  std::vector<Message> delete_messages(Pop3Client& client, const std::vector<Message>& messages,
                                       std::size_t window);

  const Account& account_;
  const RunOptions& options_;
  RunObserver& observer_;
  AccountResult& result_;
  std::uint64_t reported_ = 0;
};

std::unique_ptr<Stream> AccountRun::open_connection() {
  std::unique_ptr<Stream> stream;
  if (options_.connect) {
    stream = options_.connect(account_);
  } else {
    TlsOptions tls{account_.insecure, account_.tls_ca_file, account_.tls_fingerprint};
    stream = NetworkStream::connect(account_.host, account_.port, account_.timeout, std::move(tls));
  }
  if (account_.tls == TlsMode::implicit && !stream->tls_active()) stream->start_tls();
  return stream;
}

Capabilities AccountRun::log_in(Pop3Client& client, Stream& stream) {
  const StatusLine hello = client.greeting();
  const auto timestamp = apop_timestamp(hello.text);
  Capabilities caps = client.capa();
  if (account_.tls == TlsMode::starttls) {
    if (caps.known && !caps.stls) {
      throw FetchError(ErrorKind::failure,
                       fmt::format("{}: the server does not offer STLS, and this account "
                                   "requires TLS; refusing to log in without it (a man in the "
                                   "middle can remove STLS from CAPA)",
                                   host_port(account_.host, account_.port)));
    }
    client.stls();
    caps = client.capa();
  }
  LoginContext context;
  context.caps = caps;
  context.tls = stream.tls_active();
  context.channel_binding = stream.tls_exporter().has_value();
  context.allow_plaintext = account_.allow_plaintext;
  context.apop_timestamp = timestamp;
  const auto methods = choose_login(context);
  std::string warning;
  const std::string password = read_password(account_.password, account_.label(), warning);
  if (!warning.empty()) note(warning);
  client.login(methods, account_.user, password, timestamp);
  // Some servers announce PIPELINING, TOP or UIDL only after the login.
  if (caps.known) {
    Capabilities after = client.capa();
    if (after.known) caps = std::move(after);
  }
  return caps;
}

std::vector<Message> AccountRun::list(Pop3Client& client, bool& have_uidl) {
  std::string body;
  const StatusLine uidl_reply = client.command_multiline("UIDL", body);
  have_uidl = uidl_reply.ok;
  std::vector<UidlEntry> uidls;
  if (have_uidl) uidls = parse_uidl_listing(body);
  const StatusLine list_reply = client.command_multiline("LIST", body);
  if (!list_reply.ok) {
    throw FetchError(error_kind_of(list_reply, ErrorKind::failure),
                     fmt::format("LIST failed: {}", reply_text(list_reply)));
  }
  std::vector<Message> messages;
  for (const auto& entry : parse_list_listing(body)) {
    messages.push_back(Message{entry.number, {}, entry.size});
  }
  if (have_uidl) {
    // Match by number: both listings cover the same undeleted messages.
    std::map<std::uint64_t, std::string> by_number;
    for (auto& entry : uidls) by_number[entry.number] = std::move(entry.uidl);
    for (auto& message : messages) {
      auto it = by_number.find(message.number);
      if (it == by_number.end()) {
        protocol_error(fmt::format("message {} is in LIST but not in UIDL", message.number));
      }
      message.uidl = std::move(it->second);
    }
  }
  return messages;
}

bool AccountRun::due_for_deletion(const Delivered& d) const {
  if (d.headers_only) return false;  // only the headers are here: the message stays
  if (account_.mode == RemoteMode::remove) return true;
  return account_.keep_days &&
         now() - d.time >= static_cast<std::int64_t>(*account_.keep_days) * seconds_per_day;
}

void AccountRun::plan(const std::vector<Message>& messages, bool have_uidl, bool top_ok,
                      const DeliveredMap& delivered, std::vector<Job>& jobs,
                      std::vector<Message>& to_delete) {
  std::set<std::string_view> seen;
  bool said_no_top = false;
  for (const auto& message : messages) {
    PlannedMessage planned{message.number, message.uidl, message.size, PlannedAction::fetch};
    const auto record = [&](PlannedAction action) {
      planned.action = action;
      result_.plan.push_back(planned);
    };
    if (have_uidl) {
      if (!seen.insert(message.uidl).second) {
        note(
            fmt::format("message {} has the same UIDL as an earlier one ({}); a broken server? "
                        "It is left alone",
                        message.number, message.uidl));
        record(PlannedAction::keep);
        continue;
      }
      const auto it = delivered.find(message.uidl);
      if (it != delivered.end() && (!it->second.headers_only || oversize(message.size))) {
        if (due_for_deletion(it->second)) {
          to_delete.push_back(message);
          record(PlannedAction::remove);
        } else {
          record(PlannedAction::keep);
        }
        continue;
      }
    }
    if (oversize(message.size)) {
      if (account_.oversize == Oversize::headers && top_ok) {
        jobs.push_back(Job{message, true, {}});
        record(PlannedAction::headers);
      } else {
        if (account_.oversize == Oversize::headers && !said_no_top) {
          note("the server does not offer TOP: messages over max_size are skipped");
          said_no_top = true;
        }
        ++result_.skipped;
        record(PlannedAction::skip);
      }
      continue;
    }
    jobs.push_back(Job{message, false, {}});
    record(PlannedAction::fetch);
  }
}

void AccountRun::fetch_all(Pop3Client& client, Destination& destination, Journal* journal,
                           std::vector<Job>& jobs, std::size_t window, DeliveredMap& done,
                           std::vector<Message>& to_delete) {
  Batch batch{destination, journal, done, to_delete, {}};
  try {
    std::size_t next = 0;
    std::size_t planned = 0;  // jobs[0, planned) have their intents in the journal
    std::deque<Job*> in_flight;
    while (next < jobs.size() || !in_flight.empty()) {
      while (next < jobs.size() && in_flight.size() < window) {
        if (next == planned) {
          // Intents go to the journal a chunk ahead, so one fsync covers many messages. An
          // intent for a message never fetched costs the next run one look in the Maildir.
          const std::size_t end = std::min(jobs.size(), planned + intent_chunk);
          for (; planned < end; ++planned) {
            Job& ahead = jobs[planned];
            ahead.detail = destination.plan();
            if (journal != nullptr && !ahead.detail.empty()) {
              journal->append({JournalRecord::Type::intent, ahead.message.uidl, ahead.headers_only,
                               0, ahead.detail});
            }
          }
          // Durable before the commands leave (next() writes them).
          if (journal != nullptr) journal->sync();
        }
        Job& job = jobs[next++];
        client.send(job.headers_only ? fmt::format("TOP {} 0", job.message.number)
                                     : fmt::format("RETR {}", job.message.number),
                    ReplyKind::multiline);
        in_flight.push_back(&job);
      }
      Job& job = *in_flight.front();
      in_flight.pop_front();
      receive(client, batch, job);
    }
    commit_batch(client, batch);
  } catch (const FetchError&) {
    // The connection broke or a message failed: what arrived whole is still worth keeping.
    try {
      commit_batch(client, batch);
    } catch (const FetchError&) {
      // The first error is the one to report.
    }
    throw;
  }
}

void AccountRun::receive(Pop3Client& client, Batch& batch, Job& job) {
  const Message& message = job.message;
  ReplyEvent event = client.next();
  const auto* status = std::get_if<StatusLine>(&event);
  if (status == nullptr) protocol_error("expected the status line of RETR");
  const bool intent_recorded = batch.journal != nullptr && !job.detail.empty();
  if (!status->ok) {
    ++result_.message_errors;
    note(fmt::format("message {}{}: the server would not send it: {}", message.number,
                     message.uidl.empty() ? "" : " (" + message.uidl + ")", reply_text(*status)));
    if (intent_recorded) abort_record(batch, job);
    return;
  }
  const std::uint64_t start = client.octets_received();
  auto delivery = batch.destination.begin(job.detail);
  try {
    while (true) {
      event = client.next();
      if (std::holds_alternative<BodyEnd>(event)) break;
      const auto* data = std::get_if<BodyData>(&event);
      if (data == nullptr) protocol_error("expected message data");
      delivery->write(data->bytes);
      const std::uint64_t total = result_.octets + (client.octets_received() - start);
      if (total - reported_ >= progress_step) {
        reported_ = total;
        observer_.received(account_, total);
      }
    }
    delivery->finish();
  } catch (const FetchError&) {
    // Nothing of this message is visible: the next run fetches it again without asking.
    delivery->abort();
    if (intent_recorded) abort_record(batch, job);
    throw;
  }
  step("received");
  const std::uint64_t octets = client.octets_received() - start;
  result_.octets += octets;
  reported_ = result_.octets;
  observer_.received(account_, result_.octets);
  client.log(fmt::format("S: ({} octets of message {})", octets, message.number));
  batch.finished.push_back({&job, std::move(delivery)});
  if (batch.finished.size() >= batch.destination.commit_batch()) commit_batch(client, batch);
}

void AccountRun::abort_record(Batch& batch, const Job& job) {
  batch.journal->append({JournalRecord::Type::abort, job.message.uidl, false, 0, {}});
}

void AccountRun::commit_batch(Pop3Client& client, Batch& batch) {
  auto finished = std::move(batch.finished);
  batch.finished.clear();
  if (finished.empty()) return;
  try {
    batch.destination.prepare_commits();
  } catch (const FetchError&) {
    for (auto& f : finished) {
      f.delivery->abort();
      if (batch.journal != nullptr && !f.job->detail.empty()) abort_record(batch, *f.job);
    }
    throw;
  }
  for (std::size_t i = 0; i < finished.size(); ++i) {
    Job& job = *finished[i].job;
    const Message& message = job.message;
    bool intent_recorded = batch.journal != nullptr && !job.detail.empty();
    try {
      finished[i].delivery->commit([&](const std::string& detail) {
        if (batch.journal == nullptr) return;
        batch.journal->append(
            {JournalRecord::Type::intent, message.uidl, job.headers_only, 0, detail});
        batch.journal->sync();
        intent_recorded = true;
        step("intent");
      });
    } catch (const FetchError&) {
      // This one and the rest of the batch stay invisible; the next run fetches them again.
      for (std::size_t k = i; k < finished.size(); ++k) {
        finished[k].delivery->abort();
        if (batch.journal != nullptr &&
            (k > i ? !finished[k].job->detail.empty() : intent_recorded)) {
          abort_record(batch, *finished[k].job);
        }
      }
      throw;
    }
    step("committed");
    const std::int64_t when = now();
    if (batch.journal != nullptr) {
      batch.journal->append({JournalRecord::Type::done, message.uidl, job.headers_only, when, {}});
      if (batch.destination.done_must_be_durable()) batch.journal->sync();
    }
    step("done");
    client.log(fmt::format("(message {} delivered)", message.number));
    if (job.headers_only) {
      ++result_.headers_only;
    } else {
      ++result_.fetched;
    }
    observer_.delivered(account_);
    if (!message.uidl.empty()) batch.done[message.uidl] = Delivered{when, job.headers_only};
    if (!job.headers_only && account_.mode == RemoteMode::remove) {
      batch.to_delete.push_back(message);
    }
  }
}

std::vector<Message> AccountRun::delete_messages(Pop3Client& client,
                                                 const std::vector<Message>& messages,
                                                 std::size_t window) {
  std::vector<Message> deleted;
  std::size_t sent = 0;
  std::size_t answered = 0;
  while (answered < messages.size()) {
    while (sent < messages.size() && sent - answered < window) {
      client.send(fmt::format("DELE {}", messages[sent].number), ReplyKind::single);
      ++sent;
    }
    ReplyEvent event = client.next();
    const auto* status = std::get_if<StatusLine>(&event);
    if (status == nullptr) protocol_error("expected the reply to DELE");
    const Message& message = messages[answered++];
    if (status->ok) {
      deleted.push_back(message);
    } else {
      note(fmt::format("message {}: DELE failed: {}", message.number, reply_text(*status)));
    }
  }
  return deleted;
}

void AccountRun::run() {
  ignore_sigpipe();
  const auto& dir = account_.state_dir;
  ensure_state_dir(dir);
  const AccountLock lock(dir);
  DeliveredMap delivered = load_uidls(dir / uidls_file);
  std::vector<std::string> notes;
  recover_journal(dir, delivered, now(), notes);
  for (const auto& text : notes) note(text);
  step("recovered");
  std::unique_ptr<Destination> destination;
  if (!options_.dry_run) destination = make_destination(account_, dir / spool_file);

  const auto stream = open_connection();
  DialogueLog log;
  if (options_.verbose) log = [this](std::string_view line) { observer_.dialogue(account_, line); };
  Pop3Client client(*stream, log);
  const Capabilities caps = log_in(client, *stream);
  step("logged-in");

  bool have_uidl = false;
  const std::vector<Message> messages = list(client, have_uidl);
  result_.listed = messages.size();
  if (!have_uidl && account_.mode == RemoteMode::keep) {
    throw FetchError(ErrorKind::failure,
                     "the server does not support UIDL, so keep mode cannot tell new messages "
                     "from old ones; use mode = \"delete\" (--delete)");
  }
  if (!have_uidl) {
    note(
        "the server does not support UIDL: if this run is interrupted after a delivery and "
        "before the server deletes, those messages arrive again next run");
  }
  std::vector<Job> jobs;
  std::vector<Message> to_delete;
  plan(messages, have_uidl, !caps.known || caps.top, delivered, jobs, to_delete);
  if (options_.dry_run) {
    client.command("QUIT");
    return;
  }
  std::uint64_t total = 0;
  for (const auto& job : jobs) total += job.headers_only ? 0 : job.message.size;
  observer_.started(account_, jobs.size(), total);

  const std::size_t window = caps.pipelining ? std::max<std::size_t>(1, options_.window) : 1;
  Journal journal(dir / journal_file);
  DeliveredMap done;
  fetch_all(client, *destination, have_uidl ? &journal : nullptr, jobs, window, done, to_delete);

  // Everything delivered is durable before the first DELE leaves.
  destination->sync();
  journal.sync();
  std::vector<Message> deleted;
  if (!to_delete.empty()) {
    deleted = delete_messages(client, to_delete, caps.pipelining ? dele_window : 1);
    step("dele-sent");
  }
  const StatusLine quit = client.command("QUIT");
  if (quit.ok) {
    result_.deleted = deleted.size();
  } else if (!deleted.empty()) {
    note(
        fmt::format("the server did not complete QUIT ({}): nothing was deleted; the next run "
                    "tries again",
                    reply_text(quit)));
    deleted.clear();
  }
  step("quit");

  if (!have_uidl) return;
  for (auto& [uidl, d] : done) delivered[uidl] = d;
  // A UIDL leaves the state once the server no longer has the message.
  std::set<std::string_view> listed;
  for (const auto& m : messages) listed.insert(m.uidl);
  for (const auto& m : deleted) listed.erase(m.uidl);
  for (auto it = delivered.begin(); it != delivered.end();) {
    if (!listed.contains(it->first)) {
      it = delivered.erase(it);
    } else {
      ++it;
    }
  }
  save_uidls(dir / uidls_file, delivered);
  step("uidls-saved");
  journal.clear();
}

}  // namespace

void recover_journal(const std::filesystem::path& state_dir, DeliveredMap& delivered,
                     std::int64_t now, std::vector<std::string>& notes) {
  Journal journal(state_dir / journal_file);  // cuts off a torn last record
  const auto records = Journal::read(state_dir / journal_file);
  if (records.empty()) return;
  const JournalState state = replay(records);
  std::vector<std::string> open_uidls;
  std::vector<std::string> details;
  std::vector<bool> headers_only;
  for (const auto& [uidl, record] : state.last) {
    switch (record.type) {
      case JournalRecord::Type::done:
        delivered[uidl] = Delivered{record.time, record.headers_only};
        break;
      case JournalRecord::Type::abort: break;
      case JournalRecord::Type::intent:
        open_uidls.push_back(uidl);
        details.push_back(record.detail);
        headers_only.push_back(record.headers_only);
        break;
    }
  }
  std::vector<std::string> texts;
  const auto settled = reconcile_intents(details, state_dir / spool_file, texts);
  for (std::size_t i = 0; i < settled.size(); ++i) {
    if (settled[i] == Reconciled::delivered) {
      delivered[open_uidls[i]] = Delivered{now, headers_only[i]};
    }
    if (!texts[i].empty()) notes.push_back(fmt::format("UIDL {}: {}", open_uidls[i], texts[i]));
  }
  save_uidls(state_dir / uidls_file, delivered);
  journal.clear();
}

AccountResult fetch_account(const Account& account, const RunOptions& options,
                            RunObserver& observer) {
  AccountResult result;
  result.label = account.label();
  try {
    AccountRun(account, options, observer, result).run();
  } catch (const FetchError& e) {
    result.error = e;
  } catch (const std::exception& e) {
    result.error = FetchError(ErrorKind::failure, e.what());
  }
  return result;
}

}  // namespace postern::fetch
