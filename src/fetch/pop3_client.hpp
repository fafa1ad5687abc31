// The POP3 client: ReplyParser over a Stream, plus the conversations that are the same for
// every run (greeting, CAPA, STLS, the login methods). Commands can be queued with send() and
// their replies read with next() in order, which is how RETR and DELE are pipelined.
// The dialogue goes to `log` when set ("C: ..." / "S: ..."), with passwords and SASL data
// replaced by "****".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fetch/capabilities.hpp"
#include "fetch/error.hpp"
#include "fetch/login_choice.hpp"
#include "fetch/reply_parser.hpp"
#include "fetch/stream.hpp"

namespace postern::fetch {

using DialogueLog = std::function<void(std::string_view line)>;

class Pop3Client {
 public:
  Pop3Client(Stream& stream, DialogueLog log = {});

  // Reads the greeting; -ERR there is a temporary error (the server is busy or closing).
  StatusLine greeting();
  // Sends one command and reads its single-line reply. `shown` replaces the line in the log.
  StatusLine command(std::string_view line, std::string_view shown = {});
  // A command with a small multi-line reply (CAPA, UIDL, LIST): the body is collected; a body
  // over `limit` octets is a protocol error.
  StatusLine command_multiline(std::string_view line, std::string& body,
                               std::size_t limit = 256 * 1024 * 1024);
  // CAPA; known = false when the server answers -ERR (an RFC 1939-only server).
  Capabilities capa();
  // STLS and the handshake. Input the server sent before the handshake is discarded.
  // Throws FetchError (failure) when the server refuses STLS.
  void stls();
  // Logs in with the first method that works (see choose_login). Throws FetchError: auth when
  // the server refuses, temporary when it answers [SYS/TEMP], [IN-USE] or [LOGIN-DELAY].
  void login(const std::vector<LoginMethod>& methods, const std::string& user,
             const std::string& password, const std::optional<std::string>& apop_timestamp);

  // Pipelining: queue a command (written on the next read or flush), then read its reply.
  void send(std::string_view line, ReplyKind kind);
  void flush();
  // The next reply event; reads from the stream as needed, so never NeedMore. Throws
  // FetchError (temporary) if the server closes the connection first.
  ReplyEvent next();
  std::size_t in_flight() const { return parser_.pending(); }
  std::uint64_t octets_received() const { return parser_.consumed(); }
  Stream& stream() { return stream_; }
  void log(std::string_view line) const {
    if (log_) log_(line);
  }

 private:
  void write(std::string_view line, std::string_view shown);
  StatusLine read_status();
  // One attempt; returns nullopt on success, else the refusal to report.
  std::optional<FetchError> try_login(LoginMethod method, const std::string& user,
                                      const std::string& password,
                                      const std::optional<std::string>& apop_timestamp);
  std::optional<FetchError> sasl_scram(const std::string& user, const std::string& password,
                                       bool plus);
  std::optional<FetchError> refusal(LoginMethod method, const StatusLine& reply) const;

  Stream& stream_;
  DialogueLog log_;
  ReplyParser parser_;
  std::string out_;
};

// The kind of error a -ERR reply stands for: temporary for [SYS/TEMP], [IN-USE], [LOGIN-DELAY].
ErrorKind error_kind_of(const StatusLine& reply, ErrorKind otherwise);

// "-ERR [AUTH] text" for messages.
std::string reply_text(const StatusLine& reply);

}  // namespace postern::fetch
