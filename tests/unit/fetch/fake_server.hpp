// A POP3 server in memory for the fetch tests, speaking through the Stream interface: the
// client's writes are answered at once, so pipelined commands queue up replies exactly as on a
// socket. The maildrop outlives the connection (deletions are committed only by QUIT), so a test
// can "kill" a run mid-way and start the next one against the same server state. AUTH
// SCRAM-SHA-256 is answered by postern's own server-side mechanism.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/sasl/base64.hpp"
#include "auth/sasl/mechanism.hpp"
#include "auth/sasl/scram.hpp"
#include "fetch/error.hpp"
#include "fetch/stream.hpp"

namespace postern::fetch::testing {

struct FakeMessage {
  std::string uidl;
  std::string content;  // CRLF line ends, as the server would send it (before dot-stuffing)
};

// What stays on the "server" between connections.
struct FakeMaildrop {
  std::vector<FakeMessage> messages;
  std::size_t sessions = 0;
  std::size_t commits = 0;
  std::vector<std::string> commands;  // every line received in every session (AUTH data too)
  std::size_t max_batch = 0;          // most commands that arrived in one write
};

struct FakeOptions {
  std::string greeting = "+OK fake POP3 ready <1896.697170952@fake.example>";
  bool capa = true;  // false: CAPA answers -ERR
  std::vector<std::string> capabilities = {"TOP",        "UIDL",       "USER",
                                           "PIPELINING", "SASL PLAIN", "RESP-CODES"};
  // After login (empty: the same list minus USER, SASL and STLS).
  std::vector<std::string> capabilities_after;
  bool stls = false;  // answers STLS with +OK and pretends TLS is up afterwards
  bool uidl = true;   // false: UIDL answers -ERR
  std::string user = "alice";
  std::string password = "secret";
  bool apop = false;                        // accept APOP
  bool user_pass = true;                    // accept USER/PASS
  std::optional<std::string> tls_exporter;  // enables SCRAM-SHA-256-PLUS binding checks
  std::set<std::uint64_t> retr_fails;       // RETR n answers -ERR [SYS/TEMP]
  bool quit_fails = false;                  // QUIT answers -ERR and commits nothing
  std::string login_error = "-ERR [AUTH] Invalid login";
  std::string after_stls_garbage;  // bytes "injected" right after +OK to STLS
};

class FakeServer final : public Stream {
 public:
  FakeServer(FakeMaildrop& drop, FakeOptions options) : drop_(drop), options_(std::move(options)) {
    ++drop_.sessions;
    out_ = options_.greeting + "\r\n";
  }

  std::size_t read_some(std::span<char> buffer) override {
    if (out_.empty()) {
      if (closed_) return 0;
      throw FetchError(ErrorKind::temporary, "fake server: the client waits for nothing");
    }
    const std::size_t n = std::min(buffer.size(), std::min<std::size_t>(out_.size(), chunk_));
    std::copy_n(out_.data(), n, buffer.data());
    out_.erase(0, n);
    return n;
  }

  void write_all(std::string_view data) override {
    in_.append(data);
    std::size_t commands = 0;
    while (true) {
      const auto nl = in_.find("\r\n");
      if (nl == std::string::npos) break;
      const std::string line = in_.substr(0, nl);
      in_.erase(0, nl + 2);
      ++commands;
      handle(line);
    }
    drop_.max_batch = std::max(drop_.max_batch, commands);
  }

  void start_tls() override { tls_ = true; }
  bool tls_active() const override { return tls_; }
  std::optional<std::string> tls_exporter() const override {
    return tls_ ? options_.tls_exporter : std::nullopt;
  }
  std::string tls_version() const override { return tls_ ? "fake-TLS" : "no"; }

  // Small reads make the client's parser see every kind of split.
  void set_chunk(std::size_t chunk) { chunk_ = chunk; }

 private:
  void reply(std::string_view line) {
    out_.append(line);
    out_.append("\r\n");
  }

  void multiline(std::string_view first, std::string_view body) {
    reply(first);
    std::size_t start = 0;
    while (start < body.size()) {
      auto nl = body.find("\r\n", start);
      const std::size_t end = nl == std::string_view::npos ? body.size() : nl;
      const std::string_view line = body.substr(start, end - start);
      if (line.starts_with('.')) out_.push_back('.');
      reply(line);
      start = end + 2;
    }
    reply(".");
  }

  std::vector<std::string> capability_list() const {
    if (!authorized_) {
      auto caps = options_.capabilities;
      if (options_.stls && !tls_) caps.push_back("STLS");
      return caps;
    }
    if (!options_.capabilities_after.empty()) return options_.capabilities_after;
    std::vector<std::string> caps;
    for (const auto& c : options_.capabilities) {
      if (c != "USER" && !c.starts_with("SASL") && c != "STLS") caps.push_back(c);
    }
    return caps;
  }

  const FakeMessage* message(std::string_view arg, std::uint64_t& number) {
    number = 0;
    for (char c : arg) {
      if (c < '0' || c > '9') return nullptr;
      number = number * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (number == 0 || number > drop_.messages.size() || deleted_.contains(number)) return nullptr;
    return &drop_.messages[number - 1];
  }

  void handle(const std::string& line) {
    drop_.commands.push_back(line);
    if (sasl_) return sasl_step(line);
    const auto space = line.find(' ');
    const std::string verb = line.substr(0, space);
    const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
    if (verb == "CAPA") {
      if (!options_.capa) return reply("-ERR unknown command");
      std::string body;
      for (const auto& c : capability_list()) body += c + "\r\n";
      return multiline("+OK capabilities", body);
    }
    if (verb == "QUIT") return quit();
    if (!authorized_) return authorization(verb, arg);
    transaction(verb, arg);
  }

  void authorization(const std::string& verb, const std::string& arg) {
    if (verb == "STLS" && options_.stls && !tls_) {
      reply("+OK begin TLS");
      out_ += options_.after_stls_garbage;
      tls_ = true;
      return;
    }
    if (verb == "USER" && options_.user_pass) {
      user_ = arg;
      return reply("+OK");
    }
    if (verb == "PASS" && options_.user_pass) {
      return login(user_ == options_.user && arg == options_.password);
    }
    if (verb == "APOP" && options_.apop) {
      return login(false);  // only the refusal path is exercised with the fake
    }
    if (verb == "AUTH") return auth(arg);
    reply("-ERR unknown command");
  }

  void login(bool ok) {
    if (!ok) return reply(options_.login_error);
    authorized_ = true;
    reply("+OK logged in");
  }

  void auth(const std::string& arg) {
    const auto space = arg.find(' ');
    const std::string mech = arg.substr(0, space);
    const std::string ir = space == std::string::npos ? "" : arg.substr(space + 1);
    const auto data = auth::sasl::decode_base64(ir == "=" ? "" : ir);
    if (!data) return reply("-ERR bad base64");
    if (mech == "PLAIN") {
      const std::string expected = std::string(1, '\0') + options_.user + '\0' + options_.password;
      return login(*data == expected);
    }
    if (mech == "SCRAM-SHA-256" || mech == "SCRAM-SHA-256-PLUS") {
      auth::sasl::ScramOptions scram;
      const std::string password = options_.password;
      const std::string user = options_.user;
      scram.lookup = [password, user](std::string_view who) -> std::optional<std::string> {
        if (who != user) return std::nullopt;
        return "{PLAIN}" + password;
      };
      if (mech == "SCRAM-SHA-256-PLUS") scram.plus_binding = tls_exporter();
      scram.server_offers_plus = options_.tls_exporter.has_value() && tls_;
      sasl_ = auth::sasl::make_scram_sha256(std::move(scram));
      return sasl_result(sasl_->step(*data));
    }
    reply("-ERR unsupported mechanism");
  }

  void sasl_step(const std::string& line) {
    if (line == "*") {
      sasl_.reset();
      return reply("-ERR cancelled");
    }
    if (sasl_done_) {
      sasl_.reset();
      sasl_done_ = false;
      return login(line.empty());
    }
    const auto data = auth::sasl::decode_base64(line);
    if (!data) {
      sasl_.reset();
      return reply("-ERR bad base64");
    }
    sasl_result(sasl_->step(*data));
  }

  void sasl_result(const auth::sasl::Step& step) {
    switch (step.status) {
      case auth::sasl::StepStatus::challenge:
        return reply("+ " + auth::sasl::encode_base64(step.data));
      case auth::sasl::StepStatus::success:
        sasl_done_ = true;
        return reply("+ " + auth::sasl::encode_base64(step.data));
      case auth::sasl::StepStatus::failure: sasl_.reset(); return reply(options_.login_error);
    }
  }

  void transaction(const std::string& verb, const std::string& arg) {
    std::uint64_t n = 0;
    if (verb == "UIDL" && arg.empty()) {
      if (!options_.uidl) return reply("-ERR no UIDL here");
      std::string body;
      for (std::size_t i = 0; i < drop_.messages.size(); ++i) {
        if (!deleted_.contains(i + 1))
          body += std::to_string(i + 1) + " " + drop_.messages[i].uidl + "\r\n";
      }
      return multiline("+OK", body);
    }
    if (verb == "LIST" && arg.empty()) {
      std::string body;
      for (std::size_t i = 0; i < drop_.messages.size(); ++i) {
        if (!deleted_.contains(i + 1)) {
          body += std::to_string(i + 1) + " " + std::to_string(drop_.messages[i].content.size()) +
                  "\r\n";
        }
      }
      return multiline("+OK", body);
    }
    if (verb == "RETR") {
      const FakeMessage* m = message(arg, n);
      if (m == nullptr) return reply("-ERR no such message");
      if (options_.retr_fails.contains(n)) return reply("-ERR [SYS/TEMP] cannot read it now");
      return multiline("+OK message follows", m->content);
    }
    if (verb == "TOP") {
      const auto space = arg.find(' ');
      const FakeMessage* m = message(arg.substr(0, space), n);
      if (m == nullptr || arg.substr(space + 1) != "0") return reply("-ERR no such message");
      const auto end = m->content.find("\r\n\r\n");
      return multiline("+OK top follows",
                       end == std::string::npos ? m->content : m->content.substr(0, end + 4));
    }
    if (verb == "DELE") {
      if (message(arg, n) == nullptr) return reply("-ERR no such message");
      deleted_.insert(n);
      return reply("+OK deleted");
    }
    if (verb == "NOOP") return reply("+OK");
    reply("-ERR unknown command");
  }

  void quit() {
    if (authorized_ && options_.quit_fails) {
      closed_ = true;
      return reply("-ERR [SYS/TEMP] could not commit");
    }
    if (authorized_) {
      std::vector<FakeMessage> kept;
      for (std::size_t i = 0; i < drop_.messages.size(); ++i) {
        if (!deleted_.contains(i + 1)) kept.push_back(drop_.messages[i]);
      }
      drop_.messages = std::move(kept);
      ++drop_.commits;
    }
    closed_ = true;
    reply("+OK bye");
  }

  FakeMaildrop& drop_;
  FakeOptions options_;
  std::string in_;
  std::string out_;
  std::size_t chunk_ = 1 << 20;
  bool tls_ = false;
  bool closed_ = false;
  bool authorized_ = false;
  std::string user_;
  std::set<std::uint64_t> deleted_;
  std::unique_ptr<auth::sasl::Mechanism> sasl_;
  bool sasl_done_ = false;
};

}  // namespace postern::fetch::testing
