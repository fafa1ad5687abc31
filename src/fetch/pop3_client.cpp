#include "fetch/pop3_client.hpp"

#include <fmt/format.h>

#include <array>

#include "auth/sasl/base64.hpp"
#include "auth/sasl/digest.hpp"
#include "fetch/scram_client.hpp"
#include "store/printable.hpp"

namespace postern::fetch {
namespace {

using auth::sasl::decode_base64;
using auth::sasl::encode_base64;

constexpr std::size_t read_chunk = 64 * 1024;
constexpr std::size_t max_logged_body_lines = 40;

[[noreturn]] void protocol_error(std::string_view what) {
  throw FetchError(ErrorKind::failure, fmt::format("protocol error: {}", what));
}

}  // namespace

ErrorKind error_kind_of(const StatusLine& reply, ErrorKind otherwise) {
  if (reply.code == "SYS/TEMP" || reply.code == "IN-USE" || reply.code == "LOGIN-DELAY") {
    return ErrorKind::temporary;
  }
  return otherwise;
}

std::string reply_text(const StatusLine& reply) {
  // The server's words reach a terminal: no escape sequences from it get through.
  std::string out = reply.ok ? "+OK" : "-ERR";
  if (!reply.code.empty()) out += fmt::format(" [{}]", store::printable(reply.code));
  if (!reply.text.empty()) out += " " + store::printable(reply.text);
  return out;
}

Pop3Client::Pop3Client(Stream& stream, DialogueLog log) : stream_(stream), log_(std::move(log)) {}

void Pop3Client::write(std::string_view line, std::string_view shown) {
  log(fmt::format("C: {}", shown.empty() ? line : shown));
  out_.append(line);
  out_.append("\r\n");
}

void Pop3Client::send(std::string_view line, ReplyKind kind) {
  write(line, {});
  parser_.expect(kind);
}

void Pop3Client::flush() {
  if (out_.empty()) return;
  stream_.write_all(out_);
  out_.clear();
}

ReplyEvent Pop3Client::next() {
  flush();
  while (true) {
    ReplyEvent event = parser_.next();
    if (!std::holds_alternative<NeedMore>(event)) {
      if (const auto* status = std::get_if<StatusLine>(&event)) log("S: " + reply_text(*status));
      if (const auto* more = std::get_if<Continuation>(&event)) {
        log("S: + " + store::printable(more->text));
      }
      return event;
    }
    std::array<char, read_chunk> buf;
    const std::size_t n = stream_.read_some(buf);
    if (n == 0) {
      throw FetchError(ErrorKind::temporary, "the server closed the connection unexpectedly");
    }
    parser_.feed(std::string_view(buf.data(), n));
  }
}

StatusLine Pop3Client::read_status() {
  ReplyEvent event = next();
  if (auto* status = std::get_if<StatusLine>(&event)) return std::move(*status);
  protocol_error("expected a status line");
}

StatusLine Pop3Client::greeting() {
  parser_.expect(ReplyKind::single);
  StatusLine reply = read_status();
  if (!reply.ok) {
    throw FetchError(ErrorKind::temporary,
                     fmt::format("the server turned us away: {}", reply_text(reply)));
  }
  return reply;
}

StatusLine Pop3Client::command(std::string_view line, std::string_view shown) {
  write(line, shown);
  parser_.expect(ReplyKind::single);
  return read_status();
}

StatusLine Pop3Client::command_multiline(std::string_view line, std::string& body,
                                         std::size_t limit) {
  body.clear();
  send(line, ReplyKind::multiline);
  StatusLine reply = read_status();
  if (!reply.ok) return reply;
  std::size_t lines = 0;
  while (true) {
    ReplyEvent event = next();
    if (std::holds_alternative<BodyEnd>(event)) break;
    const auto* data = std::get_if<BodyData>(&event);
    if (data == nullptr) protocol_error("expected a multi-line body");
    if (body.size() + data->bytes.size() > limit) {
      protocol_error(fmt::format("the reply to {} is over {} octets", line, limit));
    }
    body.append(data->bytes);
  }
  if (log_) {
    std::size_t start = 0;
    while (start < body.size()) {
      const auto nl = body.find('\n', start);
      const auto end = nl == std::string::npos ? body.size() : nl;
      if (++lines <= max_logged_body_lines) {
        log("S: " + store::printable(std::string_view(body).substr(start, end - start)));
      }
      start = end + 1;
    }
    if (lines > max_logged_body_lines) {
      log(fmt::format("S: ... {} more lines", lines - max_logged_body_lines));
    }
    log("S: .");
  }
  return reply;
}

Capabilities Pop3Client::capa() {
  std::string body;
  const StatusLine reply = command_multiline("CAPA", body, 1024 * 1024);
  if (!reply.ok) return Capabilities{};
  return parse_capabilities(body);
}

void Pop3Client::stls() {
  const StatusLine reply = command("STLS");
  if (!reply.ok) {
    throw FetchError(ErrorKind::failure,
                     fmt::format("the server refused STLS ({}); refusing to go on without TLS",
                                 reply_text(reply)));
  }
  if (const std::size_t dropped = parser_.discard_input(); dropped > 0) {
    log(fmt::format("(dropped {} octets the server sent before the TLS handshake)", dropped));
  }
  stream_.start_tls();
  log(fmt::format("(TLS is up: {})", stream_.tls_version()));
}

std::optional<FetchError> Pop3Client::refusal(LoginMethod method, const StatusLine& reply) const {
  return FetchError(error_kind_of(reply, ErrorKind::auth),
                    fmt::format("the server refused the login ({}): {}", login_method_name(method),
                                reply_text(reply)));
}

void Pop3Client::login(const std::vector<LoginMethod>& methods, const std::string& user,
                       const std::string& password,
                       const std::optional<std::string>& apop_timestamp) {
  std::optional<FetchError> first;
  for (const LoginMethod method : methods) {
    auto failed = try_login(method, user, password, apop_timestamp);
    if (!failed) return;
    if (!first) first = failed;
    // A busy or locked maildrop will not get better with another mechanism.
    if (failed->kind() != ErrorKind::auth) break;
  }
  throw *first;
}

std::optional<FetchError> Pop3Client::try_login(LoginMethod method, const std::string& user,
                                                const std::string& password,
                                                const std::optional<std::string>& apop_timestamp) {
  switch (method) {
    case LoginMethod::scram_sha256_plus: return sasl_scram(user, password, true);
    case LoginMethod::scram_sha256: return sasl_scram(user, password, false);
    case LoginMethod::sasl_plain: {
      std::string response;
      response.push_back('\0');
      response += user;
      response.push_back('\0');
      response += password;
      write("AUTH PLAIN " + encode_base64(response), "AUTH PLAIN ****");
      parser_.expect(ReplyKind::sasl);
      ReplyEvent event = next();
      if (std::holds_alternative<Continuation>(event)) {
        // Not expected after an initial response: cancel rather than guess.
        write("*", {});
        event = next();
      }
      const auto* status = std::get_if<StatusLine>(&event);
      if (status == nullptr) protocol_error("unexpected reply to AUTH PLAIN");
      return status->ok ? std::nullopt : refusal(method, *status);
    }
    case LoginMethod::user_pass: {
      const StatusLine user_reply = command("USER " + user);
      if (!user_reply.ok) return refusal(method, user_reply);
      const StatusLine pass_reply = command("PASS " + password, "PASS ****");
      return pass_reply.ok ? std::nullopt : refusal(method, pass_reply);
    }
    case LoginMethod::apop: {
      const std::string digest = auth::sasl::to_hex(auth::sasl::md5(*apop_timestamp + password));
      const StatusLine reply =
          command(fmt::format("APOP {} {}", user, digest), fmt::format("APOP {} ****", user));
      return reply.ok ? std::nullopt : refusal(method, reply);
    }
  }
  return std::nullopt;
}

std::optional<FetchError> Pop3Client::sasl_scram(const std::string& user,
                                                 const std::string& password, bool plus) {
  const LoginMethod method = plus ? LoginMethod::scram_sha256_plus : LoginMethod::scram_sha256;
  std::optional<std::string> binding;
  if (plus) {
    binding = stream_.tls_exporter();
    if (!binding) protocol_error("no tls-exporter value for SCRAM-SHA-256-PLUS");
  }
  ScramClient scram(user, password, binding);
  const std::string name(login_method_name(method));
  write(fmt::format("AUTH {} {}", name, encode_base64(scram.client_first())),
        fmt::format("AUTH {} ****", name));
  parser_.expect(ReplyKind::sasl);
  const auto challenge = [&](ReplyEvent event) -> std::optional<std::string> {
    if (auto* more = std::get_if<Continuation>(&event)) {
      auto decoded = decode_base64(more->text);
      if (!decoded) protocol_error("a SCRAM challenge that is not base64");
      return decoded;
    }
    return std::nullopt;
  };
  ReplyEvent event = next();
  const auto server_first = challenge(event);
  if (!server_first) return refusal(method, std::get<StatusLine>(event));
  std::string client_final;
  try {
    client_final = scram.client_final(*server_first);
  } catch (const FetchError&) {
    write("*", {});
    next();  // the server's -ERR to the cancellation
    throw;
  }
  write(encode_base64(client_final), "****");
  event = next();
  const auto server_final = challenge(event);
  if (!server_final) {
    const auto& status = std::get<StatusLine>(event);
    if (!status.ok) return refusal(method, status);
    throw FetchError(ErrorKind::auth,
                     "SCRAM-SHA-256: the server accepted the login without proving that it knows "
                     "the password (no server signature)");
  }
  scram.verify_server_final(*server_final);
  write("", {});
  event = next();
  const auto* status = std::get_if<StatusLine>(&event);
  if (status == nullptr) protocol_error("a second SCRAM server-final-message");
  return status->ok ? std::nullopt : refusal(method, *status);
}

}  // namespace postern::fetch
