// A fake driver for pop3::Session tests: answers each action the way the network code would,
// from fakes the test controls. Shared by the session test files.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pop3/message_encoder.hpp"
#include "pop3/session.hpp"

namespace postern::pop3 {

// Plays the driver: answers each action as the network code would, from fakes the test controls.
class Driver {
 public:
  explicit Driver(SessionOptions options = {}) : session_(std::move(options)) {
    session_.start();
    greeting_ = std::exchange(session_.output(), {});
  }

  // The fake maildrop; fill it before logging in (the session keeps a span over it).
  void add_message(std::string uidl, std::string content, std::uint64_t size) {
    infos_.push_back(store::MessageInfo{std::move(uidl), size});
    contents_.push_back(std::move(content));
  }

  // Hands the bytes over as one read and runs the session until it needs input or closes.
  // Returns everything sent to the client meanwhile.
  std::string send(std::string_view bytes) {
    session_.receive(bytes);
    return run();
  }

  std::string run() {
    std::string wire;
    for (;;) {
      auto action = session_.next();
      largest_output_ = std::max(largest_output_, session_.output().size());
      if (std::holds_alternative<action::Flush>(action)) {
        ++flushes_;
        take_output(wire);
        continue;
      }
      take_output(wire);
      if (std::holds_alternative<action::NeedInput>(action)) return wire;
      if (std::holds_alternative<action::Close>(action)) {
        closed_ = true;
        return wire;
      }
      actions_.push_back(action);
      std::visit([this, &wire](const auto& a) { answer(a, wire); }, action);
    }
  }

  template <class T>
  std::vector<T> actions() const {
    std::vector<T> found;
    for (const auto& a : actions_) {
      if (const auto* t = std::get_if<T>(&a)) found.push_back(*t);
    }
    return found;
  }

  Session& session() { return session_; }
  const std::string& greeting() const { return greeting_; }
  bool closed() const { return closed_; }
  std::size_t flushes() const { return flushes_; }
  std::size_t largest_output() const { return largest_output_; }

  // What the fake backends answer.
  bool auth_temporary_failure = false;
  std::optional<store::StoreErrc> maildrop_failure;
  std::optional<store::StoreErrc> message_failure;
  std::optional<store::StoreErrc> commit_failure;
  // The fake SASL mechanism: each step() answers the next scripted Step (failure once the script
  // runs out) and records the client data it got.
  std::vector<auth::sasl::Step> sasl_script;
  std::vector<std::optional<std::string>> sasl_inputs;
  std::string sasl_user = "alice";
  // The APOP digest the fake accepts for alice.
  std::string apop_digest = "0123456789abcdef0123456789abcdef";
  // Recorded when the session asks for the TLS handshake.
  std::string wire_at_tls_start;
  std::optional<std::size_t> buffered_at_tls_start;

 private:
  void take_output(std::string& wire) {
    wire += session_.output();
    session_.output().clear();
  }

  void answer(const action::Authenticate& a, std::string&) {
    const bool ok = !auth_temporary_failure && a.user == "alice" && a.password == "pass word";
    session_.on_authenticated(ok, auth_temporary_failure);
  }
  void answer(const action::Apop& a, std::string&) {
    session_.on_authenticated(a.user == "alice" && a.digest == apop_digest);
  }
  void answer(const action::SaslStart& a, std::string&) { sasl_step(a.initial); }
  void answer(const action::SaslContinue& a, std::string&) { sasl_step(a.response); }
  void sasl_step(std::optional<std::string> data) {
    sasl_inputs.push_back(std::move(data));
    auth::sasl::Step step{auth::sasl::StepStatus::failure, {}, "script over"};
    if (sasl_next_ < sasl_script.size()) step = sasl_script[sasl_next_++];
    session_.on_sasl_step(step, sasl_user);
  }
  void answer(const action::OpenMaildrop&, std::string&) {
    if (maildrop_failure) {
      session_.on_maildrop_failed(*maildrop_failure, "disk on fire");
    } else {
      session_.on_maildrop_opened(infos_);
    }
  }
  void answer(const action::SendMessage& a, std::string& wire) {
    if (message_failure) {
      session_.message_unavailable(*message_failure);
      return;
    }
    session_.message_started();
    take_output(wire);
    MessageEncoder encoder(a.top_lines);
    const std::string_view content = contents_.at(a.index);
    for (std::size_t pos = 0; pos < content.size(); pos += 7) {  // odd-sized reads on purpose
      if (!encoder.feed(content.substr(pos, 7), wire)) break;
    }
    encoder.finish(wire);
    if (!a.top_lines) {
      EXPECT_EQ(encoder.content_octets(), infos_.at(a.index).size);
    }
    session_.message_finished(encoder.content_octets());
  }
  void answer(const action::Commit&, std::string&) { session_.on_committed(commit_failure); }
  void answer(const action::StartTls&, std::string& wire) {
    wire_at_tls_start = wire;
    buffered_at_tls_start = session_.buffered_input();
    session_.on_tls_started();
  }
  void answer(const action::NeedInput&, std::string&) {}
  void answer(const action::Flush&, std::string&) {}
  void answer(const action::Close&, std::string&) {}

  Session session_;
  std::size_t sasl_next_ = 0;
  std::string greeting_;
  std::vector<store::MessageInfo> infos_;
  std::vector<std::string> contents_;
  std::vector<Action> actions_;
  std::size_t flushes_ = 0;
  std::size_t largest_output_ = 0;
  bool closed_ = false;
};

// Splits wire bytes into lines; every line must end in CRLF.
inline std::vector<std::string> lines(std::string_view wire) {
  std::vector<std::string> result;
  while (!wire.empty()) {
    const auto end = wire.find("\r\n");
    if (end == std::string_view::npos) {
      ADD_FAILURE() << "unterminated line: " << testing::PrintToString(std::string(wire));
      break;
    }
    result.emplace_back(wire.substr(0, end));
    wire.remove_prefix(end + 2);
  }
  return result;
}

inline testing::AssertionResult starts_with(std::string_view text, std::string_view prefix) {
  if (text.starts_with(prefix)) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << testing::PrintToString(std::string(text)) << " does not start with " << prefix;
}

// One reply line that starts with prefix.
inline testing::AssertionResult one_reply(std::string_view wire, std::string_view prefix) {
  const auto got = lines(wire);
  if (got.size() != 1) {
    return testing::AssertionFailure()
           << "expected one reply line, got " << testing::PrintToString(std::string(wire));
  }
  return starts_with(got[0], prefix);
}

// The maildrop every session test starts from: sizes are the CRLF-form octet counts.
//   1: LF line ends (28)   2: CRLF line ends (40)   3: a dot line and no final newline (12)
class SessionTest : public testing::Test {
 public:
  static void add_messages(Driver& driver) {
    driver.add_message("uid-1", "Subject: one\n\nfirst body\n", 28);
    driver.add_message("uid-2", "Subject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n", 40);
    driver.add_message("uid-3", ".dot\nlast", 12);
  }

 protected:
  explicit SessionTest(SessionOptions options = {}) : d(std::move(options)) { add_messages(d); }

  void login() {
    const auto got = lines(d.send("USER alice\r\nPASS pass word\r\n"));
    ASSERT_EQ(got.size(), 2u);
    ASSERT_TRUE(starts_with(got[0], "+OK"));
    ASSERT_TRUE(starts_with(got[1], "+OK"));
    ASSERT_EQ(d.session().state(), SessionState::transaction);
  }

  Driver d;
};

inline std::vector<std::string> capabilities(std::string_view wire) {
  auto got = lines(wire);
  EXPECT_GE(got.size(), 2u);
  if (got.size() < 2) return {};
  EXPECT_TRUE(starts_with(got.front(), "+OK"));
  EXPECT_EQ(got.back(), ".");
  return {got.begin() + 1, got.end() - 1};
}

inline bool has(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace postern::pop3
