// A fake driver for lmtp::Session tests: answers each action the way the network code would,
// from fakes the test controls, and records what the session asked for.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lmtp/session.hpp"

namespace postern::lmtp {

class Driver {
 public:
  explicit Driver(SessionOptions options = {}) : session_(std::move(options)) {
    session_.start();
    greeting_ = std::exchange(session_.output(), {});
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
      wire += std::exchange(session_.output(), {});
      if (std::holds_alternative<action::Flush>(action)) {
        ++flushes_;
        continue;
      }
      if (std::holds_alternative<action::NeedInput>(action)) return wire;
      if (std::holds_alternative<action::Close>(action)) {
        closed_ = true;
        return wire;
      }
      if (auto* check = std::get_if<action::CheckRecipient>(&action)) {
        checks.push_back(*check);
        const auto found = recipients.find(check->address);
        session_.on_recipient(found == recipients.end() ? RecipientStatus::unknown_user
                                                        : found->second);
      } else if (auto* deliver = std::get_if<action::Deliver>(&action)) {
        // Nothing may have been said about this message before the outcomes are known.
        output_at_delivery.push_back(session_.output());
        deliveries.push_back(*deliver);
        std::vector<DeliveryOutcome> result;
        for (const auto& address : deliver->recipients) {
          const auto found = outcomes.find(address);
          result.push_back(found == outcomes.end() ? DeliveryOutcome::delivered : found->second);
        }
        session_.on_delivered(result);
      }
    }
  }

  Session& session() { return session_; }
  const std::string& greeting() const { return greeting_; }
  bool closed() const { return closed_; }
  std::size_t flushes() const { return flushes_; }
  std::size_t largest_output() const { return largest_output_; }

  // What the fake passdb answers per address (anything else: unknown user) and what the fake
  // deliverer answers per address (anything else: delivered).
  std::map<std::string, RecipientStatus> recipients{
      {"alice@example.org", RecipientStatus::accepted},
      {"bob@example.org", RecipientStatus::accepted},
      {"carol", RecipientStatus::accepted},
  };
  std::map<std::string, DeliveryOutcome> outcomes;
  std::vector<action::CheckRecipient> checks;
  std::vector<action::Deliver> deliveries;
  std::vector<std::string> output_at_delivery;

 private:
  Session session_;
  std::string greeting_;
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

// The reply codes ("250 2.1.5", "550 5.1.1", ...) of every final reply line, in order.
inline std::vector<std::string> codes(std::string_view wire) {
  std::vector<std::string> result;
  for (const auto& line : lines(wire)) {
    if (line.size() >= 4 && line[3] == '-') continue;  // a continuation line
    // "354 End data ..." has no enhanced code: the reply code alone then.
    const auto second_space = line.find(' ', 4);
    const auto token =
        line.substr(4, second_space == std::string::npos ? std::string::npos : second_space - 4);
    const bool enhanced = !token.empty() && token[0] >= '2' && token[0] <= '5' &&
                          token.find('.') != std::string::npos;
    result.push_back(enhanced ? line.substr(0, 4) + token : line.substr(0, 3));
  }
  return result;
}

inline std::vector<std::string> repeat(std::size_t n, const std::string& code) {
  return std::vector<std::string>(n, code);
}

}  // namespace postern::lmtp
