// The benchmark scenarios of issue 6. Each returns its measurements as JSON; anything the
// server got wrong goes to the ErrorLog, and a run with errors has no score.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "connection.hpp"
#include "content.hpp"
#include "errors.hpp"

namespace postern::bench {

struct CommonOptions {
  Target target;
  std::vector<std::string> users;  // client i logs in as users[i]
  std::string password = "pw";
  MailParams params;
};

// How long a looping scenario runs: until `count` iterations were started (0: no limit) or
// `seconds` passed, whichever comes first; iterations under way are finished.
struct LoopOptions {
  unsigned clients = 8;
  std::uint64_t count = 0;
  double seconds = 10;
};

// Full sessions: connect (TLS), USER/PASS, STAT, LIST, UIDL, RETR of every message, QUIT.
nlohmann::json run_sessions(const CommonOptions& common, const LoopOptions& loop, bool resume,
                            ErrorLog& errors);
// USER/PASS/QUIT.
nlohmann::json run_logins(const CommonOptions& common, const LoopOptions& loop, ErrorLog& errors);
// RETR of one large message, `repeat` times in one session; with raw_baseline, the same number
// of octets copied over a plain loopback TCP connection by the tool itself.
nlohmann::json run_retr(const CommonOptions& common, unsigned repeat, bool raw_baseline,
                        int raw_sender_cpu, ErrorLog& errors);
// One logged-in connection per user; prints "ready connections=N errors=E" on stdout, then
// holds them until a line (or end of file) arrives on stdin or hold_seconds pass; then QUIT.
nlohmann::json run_idle(const CommonOptions& common, unsigned parallel, double hold_seconds,
                        ErrorLog& errors);
// Login + STAT + UIDL on one big maildrop, timed phase by phase. `mail_of`: the user the
// fixture was written for (copies of one fixture serve several users), empty for the login user.
nlohmann::json run_maildrop(const CommonOptions& common, const std::string& mail_of,
                            ErrorLog& errors);

// The same octets over loopback TCP without POP3: the ceiling for RETR. Returns MB/s.
double raw_copy_mb_per_s(const std::string& data, int sender_cpu);

}  // namespace postern::bench
