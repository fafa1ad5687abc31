// AUTH (RFC 5034, SASL) and APOP (RFC 1939 section 7), the logins other than USER/PASS.
// The session only frames and base64-codes the exchange; the driver runs the mechanism
// (auth::sasl) and checks APOP digests.
#include <fmt/format.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <stdexcept>

#include "auth/sasl/base64.hpp"
#include "auth/username.hpp"
#include "pop3/reply.hpp"
#include "pop3/session.hpp"

namespace postern::pop3 {
namespace {

std::string ascii_upper(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return upper;
}

bool is_hex_digest(std::string_view text) {
  return text.size() == 32 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

}  // namespace

std::string make_apop_timestamp(std::string_view hostname) {
  static std::atomic<std::uint64_t> counter{0};
  std::array<unsigned char, 8> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw std::runtime_error("APOP timestamp: the OpenSSL random generator failed");
  }
  std::uint64_t value = 0;
  for (const unsigned char byte : random) value = (value << 8) | byte;
  return fmt::format("<{}.{}.{:016x}@{}>", ::getpid(), ++counter, value, hostname);
}

std::optional<Action> Session::cmd_apop(const Command& command) {
  if (!options_.apop_enabled) return bad_command(RespCode::none, "APOP is not enabled here");
  std::string_view args = command.args;
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  const auto space = args.rfind(' ');
  if (space == std::string_view::npos || !is_hex_digest(args.substr(space + 1))) {
    return bad_command(RespCode::none, "APOP needs a user name and a 32-digit hex digest");
  }
  const auto name = args.substr(0, space);
  have_user_ = false;
  if (!check_user_name(name)) return std::nullopt;
  bad_commands_ = 0;
  user_.assign(name);
  waiting_ = Waiting::auth;
  return action::Apop{user_, options_.apop_timestamp, std::string(args.substr(space + 1))};
}

std::optional<Action> Session::cmd_auth(const Command& command) {
  std::string_view args = command.args;
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  if (args.empty()) return list_mechanisms();
  const auto space = args.find(' ');
  const auto name = ascii_upper(args.substr(0, space));
  const auto& offered = options_.sasl_mechanisms;
  if (std::find(offered.begin(), offered.end(), name) == offered.end()) {
    // Mechanisms that carry a password or token in the clear are known, just not offered here.
    if (!plain_ok() &&
        (name == "PLAIN" || name == "LOGIN" || name == "OAUTHBEARER" || name == "XOAUTH2")) {
      append_err(output_, RespCode::auth, plaintext_refused);
      return std::nullopt;
    }
    return bad_command(RespCode::none, "Unsupported authentication mechanism");
  }
  std::optional<std::string> initial;
  if (space != std::string_view::npos) {
    const auto response = args.substr(space + 1);
    // RFC 5034 section 4: "=" is an empty initial response.
    initial =
        response == "=" ? std::optional<std::string>("") : auth::sasl::decode_base64(response);
    if (!initial) return bad_command(RespCode::none, "Invalid base64 in the initial response");
  }
  bad_commands_ = 0;
  have_user_ = false;
  user_.clear();
  waiting_ = Waiting::sasl;
  return action::SaslStart{name, std::move(initial)};
}

// Not in RFC 5034, but Outlook and others send a bare AUTH and expect this list.
std::optional<Action> Session::list_mechanisms() {
  bad_commands_ = 0;
  append_ok(output_, "Supported SASL mechanisms follow");
  for (const auto& name : options_.sasl_mechanisms) {
    output_.append(name);
    output_.append("\r\n");
  }
  append_terminator(output_);
  return std::nullopt;
}

// A client line while an AUTH exchange waits for it.
std::optional<Action> Session::sasl_line(const Line& line) {
  const Sasl stage = sasl_;
  end_sasl();
  if (stage == Sasl::awaiting_final_ack && line.text.empty() && !line.too_long) {
    // RFC 5034 section 4: after the final server data the client answers with an empty line.
    waiting_ = Waiting::maildrop;
    return action::OpenMaildrop{user_};
  }
  user_.clear();  // whatever the mechanism accepted, this exchange ends without a login
  if (line.too_long) return bad_command(RespCode::none, "Authentication response too long");
  if (line.text == "*") return bad_command(RespCode::none, "Authentication cancelled");
  if (stage == Sasl::awaiting_final_ack) {
    return bad_command(RespCode::none, "Expected an empty response after the final data");
  }
  auto response = auth::sasl::decode_base64(line.text);
  if (!response) return bad_command(RespCode::none, "Invalid base64 in the response");
  waiting_ = Waiting::sasl;
  return action::SaslContinue{std::move(*response)};
}

void Session::on_sasl_step(const auth::sasl::Step& step, std::string_view user) {
  waiting_ = Waiting::nothing;
  switch (step.status) {
    case auth::sasl::StepStatus::challenge:
      output_.append("+ ");
      output_.append(auth::sasl::encode_base64(step.data));
      output_.append("\r\n");
      sasl_ = Sasl::awaiting_response;
      reader_.set_max_line(options_.max_sasl_line);
      return;
    case auth::sasl::StepStatus::failure:
      user_.clear();
      authentication_failed();
      return;
    case auth::sasl::StepStatus::success:
      user_.assign(user);
      if (step.data.empty()) {
        queued_ = action::OpenMaildrop{user_};
        return;
      }
      // RFC 5034 section 4: final server data goes out as one more challenge.
      output_.append("+ ");
      output_.append(auth::sasl::encode_base64(step.data));
      output_.append("\r\n");
      sasl_ = Sasl::awaiting_final_ack;
      return;
  }
}

void Session::end_sasl() {
  sasl_ = Sasl::none;
  reader_.set_max_line(options_.max_line);
}

}  // namespace postern::pop3
