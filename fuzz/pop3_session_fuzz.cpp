// Fuzzes the whole POP3 dialogue: pop3::Session driven the way net/pop3_connection.cpp drives it,
// over an in-memory maildrop (messages with dot lines, LF and CRLF line ends, no final newline,
// an empty one) and an in-memory passdb with one user, alice, whose password lets USER/PASS, APOP,
// AUTH PLAIN, LOGIN and SCRAM-SHA-256(-PLUS) reach TRANSACTION (CRAM-MD5 runs too, but its
// challenge holds the time). The real SASL mechanisms run, with a fixed server nonce, so the
// recorded SCRAM exchanges in the corpus replay.
//
// The input is fed twice: one line per read, when each line must get exactly one well-formed
// reply, and in reads of a fixed size, when the bytes sent must be the same (unless STLS is
// offered, which drops what was read after it on purpose). Checked all along: no login without
// alice's credentials, no USER/PASS or PLAIN where plaintext is refused, nothing buffered kept
// across STLS, RETR content size equal to the LIST size, deletions only of listed messages, at
// most one unfinished line held between reads.
//
// Input: byte 0 = option bits (1 STLS offered, 2 plaintext refused, 4 APOP, 8 implicit TLS,
// 0x30 a store failure: 0x10 maildrop locked, 0x20 message 2 unavailable, 0x30 commit fails;
// 0x40 tiny output buffer, 0x80 read size 1 instead of 7); the rest is what the client sends.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/passdb.hpp"
#include "auth/password_scheme.hpp"
#include "auth/sasl/apop.hpp"
#include "auth/sasl/mechanism.hpp"
#include "auth/username.hpp"
#include "fuzz_support.hpp"
#include "pop3/command.hpp"
#include "pop3/message_encoder.hpp"
#include "pop3/session.hpp"
#include "store/message_size.hpp"

namespace postern::fuzz {
namespace {

constexpr std::string_view the_user = "alice";
constexpr std::string_view the_secret = "{PLAIN}tanstaaf";
// The same password as precomputed SCRAM-SHA-256 keys (salt "postern-fuzz-salt", 4096
// iterations), what SCRAM's secret lookup gets: deriving keys from {PLAIN} would cost 4096
// HMACs with a fresh salt per exchange, which is slow and cannot be replayed from the corpus.
constexpr std::string_view the_scram_secret =
    "{SCRAM-SHA-256}4096,cG9zdGVybi1mdXp6LXNhbHQ=,giWNEPoa9HgFASseZX1Fky2NJNPon3y31ntbLw9An8k=,"
    "HJQey4ntsCjFfC2U+E2WllZdKI2sTdPX0t+6At+79Eg=";
// RFC 1939's APOP example: MD5("<1896.697170952@dbc.mtview.ca.us>tanstaaf") is
// c4c9334bac560ecc979e58001b3e22fb.
constexpr std::string_view apop_timestamp = "<1896.697170952@dbc.mtview.ca.us>";

// The one-user passdb: cheap, deterministic, and it never sleeps on an unknown user.
class MemoryPassdb final : public auth::Passdb {
 public:
  auth::AuthResult verify(std::string_view user, std::string_view password) override {
    auto record = lookup(user);
    if (!record || !auth::verify_password(record->password, password)) {
      return {auth::AuthStatus::bad_credentials, "no", std::nullopt};
    }
    return {auth::AuthStatus::ok, {}, std::move(record)};
  }
  std::optional<auth::UserRecord> lookup(std::string_view user) override {
    if (user != the_user) return std::nullopt;
    auth::UserRecord record;
    record.user = the_user;
    record.password = the_secret;
    return record;
  }
};

struct StoredMessage {
  std::string_view content;
  store::MessageInfo info;
};

std::vector<StoredMessage> make_maildrop() {
  const std::string_view contents[] = {
      "Subject: one\n\nfirst body\n",
      "Subject: two\r\n\r\nline 1\r\n.\r\n..two dots\r\n.x\r\nlast\r\n",
      ".dot first\nno final newline",
      "",
      "From: a@example.org\nSubject: long\n\n.\n\n..\nend\n",
  };
  std::vector<StoredMessage> drop;
  for (std::size_t i = 0; i < std::size(contents); ++i) {
    store::CrlfSizeCounter counter;
    counter.feed(contents[i]);
    drop.push_back({contents[i], {"uid-" + std::to_string(i + 1), counter.size()}});
  }
  return drop;
}

// A P-256 key made once, so OAUTHBEARER and XOAUTH2 are offered and their error path runs; no
// fuzz input can sign a token with it.
std::string oauth_public_key() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

struct Options {
  bool starttls_offered = false;
  bool plaintext_refused = false;
  bool apop = false;
  bool implicit_tls = false;
  int store_failure = 0;  // 0 none, 1 maildrop locked, 2 message 2 unavailable, 3 commit fails
  bool tiny_output = false;
  std::size_t read_size = 7;

  explicit Options(std::uint8_t bits)
      : starttls_offered(bits & 1),
        plaintext_refused(bits & 2),
        apop(bits & 4),
        implicit_tls(bits & 8),
        store_failure((bits >> 4) & 3),
        tiny_output(bits & 0x40),
        read_size(bits & 0x80 ? 1 : 7) {}
};

// Plays net/pop3_connection.cpp without sockets: every action is answered at once.
class Driver {
 public:
  Driver(const Options& options, const std::vector<StoredMessage>& drop,
         const std::shared_ptr<const auth::sasl::OAuthConfig>& oauth)
      : options_(options), drop_(drop), session_(session_options(options, oauth)) {
    for (const auto& message : drop_) infos_.push_back(message.info);
    offer_mechanisms();
    session_.start();
    const std::string greeting = take_output();
    FUZZ_CHECK(greeting.starts_with("+OK ") && greeting.ends_with("\r\n"), escaped(greeting));
  }

  // Hands bytes over as one read; returns what the session sent until it waits or closes.
  std::string send(std::string_view bytes) {
    session_.receive(bytes);
    auto wire = run();
    // Memory stays bounded: a waiting session holds at most one unfinished line.
    FUZZ_CHECK(closed_ || session_.buffered_input() < session_.options().max_sasl_line,
               std::to_string(session_.buffered_input()));
    return wire;
  }

  bool closed() const { return closed_; }
  pop3::Session& session() { return session_; }

 private:
  static pop3::SessionOptions session_options(
      const Options& options, const std::shared_ptr<const auth::sasl::OAuthConfig>& oauth) {
    pop3::SessionOptions o;
    o.hostname = "fuzz.example.org";
    o.plaintext_login_allowed = !options.plaintext_refused;
    o.starttls_offered = options.starttls_offered;
    o.tls_active = options.implicit_tls;
    o.apop_enabled = options.apop;
    o.apop_timestamp = apop_timestamp;
    if (options.tiny_output) o.output_high_water = 40;
    o.oauth = oauth;
    return o;
  }

  std::string take_output() {
    std::string out;
    out.swap(session_.output());
    return out;
  }

  std::string run() {
    std::string wire;
    for (int steps = 0;; ++steps) {
      FUZZ_CHECK(steps < 100000, "the session never asked for input");
      auto action = session_.next();
      wire += take_output();
      if (std::holds_alternative<pop3::action::NeedInput>(action)) return wire;
      if (std::holds_alternative<pop3::action::Close>(action)) {
        closed_ = true;
        FUZZ_CHECK(session_.state() == pop3::SessionState::closed, "Close while not closed");
        return wire;
      }
      std::visit([this, &wire](const auto& a) { answer(a, wire); }, action);
    }
  }

  bool plaintext_ok() const { return !options_.plaintext_refused || session_.tls_active(); }

  auth::sasl::MechanismContext mechanism_context() {
    auth::sasl::MechanismContext context;
    context.secret_lookup = [this](std::string_view user) -> std::optional<std::string> {
      auto record = passdb_.lookup(user);
      if (!record) return std::nullopt;
      if (scram_lookup_) return std::string(the_scram_secret);
      return record->password;
    };
    context.password_check = [this](std::string_view user, std::string_view password) {
      return passdb_.verify(user, password).status == auth::AuthStatus::ok;
    };
    context.hostname = session_.options().hostname;
    context.tls_active = session_.tls_active();
    context.allow_plaintext_without_tls = session_.options().plaintext_login_allowed;
    if (session_.tls_active()) context.tls_exporter = std::string(32, '\x42');
    if (session_.options().oauth) context.oauth = *session_.options().oauth;
    context.nonce_source = [] { return std::string("fuzzservernonce"); };
    return context;
  }

  void offer_mechanisms() {
    session_.set_sasl_mechanisms(auth::sasl::available_mechanisms(mechanism_context()));
  }

  void answer(const pop3::action::Flush&, std::string&) {}
  void answer(const pop3::action::NeedInput&, std::string&) {}
  void answer(const pop3::action::Close&, std::string&) {}

  void answer(const pop3::action::Authenticate& a, std::string&) {
    FUZZ_CHECK(plaintext_ok(), "USER/PASS accepted where plaintext is refused");
    const bool ok = passdb_.verify(a.user, a.password).status == auth::AuthStatus::ok;
    if (ok) FUZZ_CHECK(a.user == the_user && a.password == "tanstaaf", escaped(a.password));
    session_.on_authenticated(ok);
  }

  void answer(const pop3::action::Apop& a, std::string&) {
    FUZZ_CHECK(options_.apop, "APOP while not enabled");
    FUZZ_CHECK(a.timestamp == apop_timestamp, escaped(a.timestamp));
    const auto record = passdb_.lookup(a.user);
    const bool ok =
        record && auth::sasl::verify_apop(a.timestamp, a.digest, record->password).value_or(false);
    session_.on_authenticated(ok);
  }

  void answer(const pop3::action::SaslStart& a, std::string&) {
    const auto& offered = session_.options().sasl_mechanisms;
    FUZZ_CHECK(std::find(offered.begin(), offered.end(), a.mechanism) != offered.end(),
               "AUTH with a mechanism not offered: " + escaped(a.mechanism));
    if (a.mechanism == "PLAIN" || a.mechanism == "LOGIN") {
      FUZZ_CHECK(plaintext_ok(), "AUTH " + a.mechanism + " where plaintext is refused");
    }
    scram_lookup_ = a.mechanism.starts_with("SCRAM-");
    mechanism_ = auth::sasl::make_mechanism(a.mechanism, mechanism_context());
    FUZZ_CHECK(mechanism_ != nullptr, escaped(a.mechanism));
    std::optional<std::string_view> initial;
    if (a.initial) initial = *a.initial;
    sasl_step(initial);
  }

  void answer(const pop3::action::SaslContinue& a, std::string&) {
    FUZZ_CHECK(mechanism_ != nullptr, "SASL response without an exchange");
    sasl_step(a.response);
  }

  void sasl_step(std::optional<std::string_view> data) {
    auto step = mechanism_->step(data);
    std::string user;
    if (step.status == auth::sasl::StepStatus::success) {
      user = mechanism_->user();
      FUZZ_CHECK(user == the_user, "SASL login as " + escaped(user));
    }
    if (step.status != auth::sasl::StepStatus::challenge) mechanism_.reset();
    session_.on_sasl_step(step, user);
  }

  void answer(const pop3::action::OpenMaildrop& a, std::string&) {
    FUZZ_CHECK(a.user == the_user, "maildrop opened for " + escaped(a.user));
    if (options_.store_failure == 1) {
      session_.on_maildrop_failed(store::StoreErrc::in_use, "locked");
      return;
    }
    session_.on_maildrop_opened(infos_);
  }

  void answer(const pop3::action::SendMessage& a, std::string& wire) {
    FUZZ_CHECK(session_.state() == pop3::SessionState::transaction, "RETR outside TRANSACTION");
    FUZZ_CHECK(a.index < drop_.size(), std::to_string(a.index));
    if (options_.store_failure == 2 && a.index == 1) {
      session_.message_unavailable(store::StoreErrc::temporary);
      return;
    }
    session_.message_started();
    wire += take_output();
    pop3::MessageEncoder encoder(a.top_lines);
    const std::string_view content = drop_[a.index].content;
    for (std::size_t pos = 0; pos < content.size(); pos += 5) {
      if (!encoder.feed(content.substr(pos, 5), wire)) break;
    }
    encoder.finish(wire);
    if (!a.top_lines) {
      FUZZ_CHECK(encoder.content_octets() == drop_[a.index].info.size,
                 std::to_string(encoder.content_octets()));
    }
    session_.message_finished(encoder.content_octets());
  }

  void answer(const pop3::action::Commit& a, std::string&) {
    FUZZ_CHECK(!a.deletions.empty(), "a commit without deletions");
    FUZZ_CHECK(
        std::is_sorted(a.deletions.begin(), a.deletions.end()) &&
            std::adjacent_find(a.deletions.begin(), a.deletions.end()) == a.deletions.end() &&
            a.deletions.back() < drop_.size(),
        "bad deletion list");
    session_.on_committed(options_.store_failure == 3
                              ? std::optional<store::StoreErrc>(store::StoreErrc::temporary)
                              : std::nullopt);
  }

  void answer(const pop3::action::StartTls&, std::string&) {
    FUZZ_CHECK(options_.starttls_offered, "STLS while not offered");
    // CVE-2011-0411: nothing read in the clear may be run after the handshake.
    FUZZ_CHECK(session_.buffered_input() == 0, std::to_string(session_.buffered_input()));
    session_.on_tls_started();
    offer_mechanisms();
  }

  const Options& options_;
  const std::vector<StoredMessage>& drop_;
  std::vector<store::MessageInfo> infos_;
  MemoryPassdb passdb_;
  pop3::Session session_;
  std::unique_ptr<auth::sasl::Mechanism> mechanism_;
  bool scram_lookup_ = false;  // the exchange running is SCRAM: alice's secret as SCRAM keys
  bool closed_ = false;
};

// One reply to one line: a status line ("+OK", "-ERR", or "+ " during AUTH), then for the
// multi-line answers the lines of the listing or message, dot-stuffed, and ".".
void check_reply(std::string_view reply, bool multi_line_if_ok) {
  FUZZ_CHECK(reply.ends_with("\r\n"), "unterminated reply " + escaped(reply));
  const auto status_end = reply.find("\r\n");
  const auto status = reply.substr(0, status_end);
  FUZZ_CHECK(status.find_first_of("\r\n") == std::string_view::npos, escaped(reply));
  const bool ok = status == "+OK" || status.starts_with("+OK ");
  const bool err = status == "-ERR" || status.starts_with("-ERR ");
  const bool more = status.starts_with("+ ");
  FUZZ_CHECK(ok || err || more, "bad status line " + escaped(status));
  auto rest = reply.substr(status_end + 2);
  if (!ok || !multi_line_if_ok) {
    FUZZ_CHECK(rest.empty(), "more than one line: " + escaped(reply));
    return;
  }
  FUZZ_CHECK(rest.ends_with(".\r\n"), "multi-line reply without terminator: " + escaped(reply));
  rest.remove_suffix(3);
  while (!rest.empty()) {
    const auto end = rest.find("\r\n");
    FUZZ_CHECK(end != std::string_view::npos, "unterminated line in " + escaped(reply));
    const auto line = rest.substr(0, end);
    FUZZ_CHECK(line.find_first_of("\r\n") == std::string_view::npos, escaped(reply));
    FUZZ_CHECK(!line.starts_with('.') || line.starts_with(".."),
               "unstuffed dot: " + escaped(reply));
    rest.remove_prefix(end + 2);
  }
}

bool only_spaces(std::string_view text) {
  return text.find_first_not_of(' ') == std::string_view::npos;
}

// Whether a +OK to this command line is followed by more lines (RFC 1939, 2449, 5034).
bool is_multi_line(std::string_view text, pop3::SessionState state) {
  const auto command = pop3::parse_command(text);
  switch (command.verb) {
    case pop3::Verb::capa: return true;
    case pop3::Verb::auth:
      return state == pop3::SessionState::authorization && only_spaces(command.args);
    case pop3::Verb::list:
    case pop3::Verb::uidl: return only_spaces(command.args);
    case pop3::Verb::retr:
    case pop3::Verb::top: return true;
    default: return false;
  }
}

// Feeds one line per read: each complete line gets one reply; a last piece without LF gets none
// unless it is already too long.
std::string run_line_by_line(Driver& driver, std::string_view input) {
  std::string all;
  bool in_sasl = false;
  while (!input.empty() && !driver.closed()) {
    const auto lf = input.find('\n');
    const auto piece = input.substr(0, lf == std::string_view::npos ? input.size() : lf + 1);
    input.remove_prefix(piece.size());
    auto text = piece;
    if (text.ends_with('\n')) text.remove_suffix(1);
    if (text.ends_with('\r')) text.remove_suffix(1);
    const auto state = driver.session().state();
    const std::string reply = driver.send(piece);
    all += reply;
    if (reply.empty()) {
      FUZZ_CHECK(!piece.ends_with('\n'), "no reply to line " + escaped(piece));
      continue;
    }
    check_reply(reply, !in_sasl && is_multi_line(text, state));
    in_sasl = reply.starts_with("+ ");
  }
  return all;
}

// SCRAM salts (for a derived or made-up key) and CRAM-MD5 challenges are random or hold the time:
// "+ " lines are compared by their presence only.
std::string without_challenges(std::string_view wire) {
  std::string out;
  while (!wire.empty()) {
    const auto end = wire.find("\r\n");
    const auto line = wire.substr(0, end == std::string_view::npos ? wire.size() : end + 2);
    out += line.starts_with("+ ") ? std::string_view("+ <challenge>\r\n") : line;
    wire.remove_prefix(line.size());
  }
  return out;
}

std::string run_in_reads(Driver& driver, std::string_view input, std::size_t read_size) {
  std::string all;
  for (std::size_t pos = 0; pos < input.size() && !driver.closed(); pos += read_size) {
    all += driver.send(input.substr(pos, read_size));
  }
  FUZZ_CHECK(all.empty() || all.ends_with("\r\n"), "output ends mid-line: " + escaped(all));
  return all;
}

}  // namespace
}  // namespace postern::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  postern::fuzz::silence_logging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::fuzz;
  static const auto drop = make_maildrop();
  static const auto oauth = [] {
    auto config = std::make_shared<postern::auth::sasl::OAuthConfig>();
    config->public_key_pem = oauth_public_key();
    config->issuer = "https://id.example.org";
    config->audience = "pop3";
    return std::shared_ptr<const postern::auth::sasl::OAuthConfig>(std::move(config));
  }();
  if (size == 0) return 0;
  const Options options(data[0]);
  const auto input = as_text(data + 1, size - 1);

  Driver by_line(options, drop, oauth);
  const std::string line_wire = run_line_by_line(by_line, input);

  Driver by_read(options, drop, oauth);
  const std::string read_wire = run_in_reads(by_read, input, options.read_size);
  show("client", input);
  show("server (line by line)", line_wire);
  // STLS throws away what was read after it, so there the read size matters, by design.
  if (!options.starttls_offered) {
    FUZZ_CHECK(without_challenges(line_wire) == without_challenges(read_wire),
               "line by line: " + escaped(line_wire) + "\nin reads: " + escaped(read_wire));
  }
  return 0;
}
