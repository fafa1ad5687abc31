// postern-bench: the load generator of issue 6's side-by-side benchmark (bench/compare.py).
// `postern-bench fixture` writes the Maildirs; the scenario commands drive a POP3 server and
// check every reply against them, so that a server that gets anything wrong has no score.
#include <fmt/format.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <asio/ip/address.hpp>
#include <cstdio>

#include "errors.hpp"
#include "fixture.hpp"
#include "scenarios.hpp"

namespace {

using namespace postern::bench;

constexpr int exit_usage = 64;
constexpr int exit_software = 70;

struct Options {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  bool tls = false;
  std::string ca_file;
  std::string server_name = "localhost";
  double timeout = 60;
  bool json = false;
  std::vector<std::string> users;
  std::string prefix;
  unsigned user_count = 0;
  unsigned first_user = 1;
  std::string password = "pw";
  std::size_t max_errors = 10;
  std::size_t large_size = 20'000'000;
  std::size_t big_count = 100'000;
  LoopOptions loop;
  bool resume = false;
  unsigned repeat = 1;
  bool raw_baseline = false;
  int raw_sender_cpu = -1;
  unsigned parallel = 32;
  double hold = 900;
  std::string fixture_dir;
  std::string mail_set = "session";
  bool in_cur = false;
  bool size_in_name = false;
  std::string owner;
  std::string mail_of;
};

void add_users(CLI::App* app, Options& o) {
  app->add_option("--user", o.users, "User name (repeat for several)");
  app->add_option("--prefix", o.prefix, "Users PREFIX00001, PREFIX00002, ... (with --users)");
  app->add_option("--users", o.user_count, "How many PREFIX users");
  app->add_option("--first", o.first_user, "Number of the first PREFIX user")
      ->capture_default_str();
}

void add_mail(CLI::App* app, Options& o) {
  app->add_option("--large-size", o.large_size, "Size of the large message (octets)")
      ->capture_default_str();
  app->add_option("--big-count", o.big_count, "Messages in a big maildrop")->capture_default_str();
}

void add_target(CLI::App* app, Options& o) {
  add_users(app, o);
  add_mail(app, o);
  app->add_option("--host", o.host, "Server address")->capture_default_str();
  app->add_option("--port", o.port, "Server port")->required()->check(CLI::Range(1, 65535));
  app->add_flag("--tls", o.tls, "Implicit TLS (POP3S)");
  app->add_option("--ca", o.ca_file, "CA certificate to verify the server with (TLS)")
      ->check(CLI::ExistingFile);
  app->add_option("--server-name", o.server_name, "TLS server name (SNI, verification)")
      ->capture_default_str();
  app->add_option("--password", o.password, "Every user's password")->capture_default_str();
  app->add_option("--timeout", o.timeout, "Seconds without progress before a connection fails")
      ->capture_default_str();
  app->add_option("--max-errors", o.max_errors, "Stop starting new work after this many errors")
      ->capture_default_str();
  app->add_flag("--json", o.json, "Print the result as one JSON object");
}

void add_loop(CLI::App* app, Options& o) {
  app->add_option("--clients", o.loop.clients, "Concurrent clients (each its own user)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app->add_option("--count", o.loop.count, "Stop after this many (0: only --duration counts)")
      ->capture_default_str();
  app->add_option("--duration", o.loop.seconds, "Stop starting new ones after this many seconds")
      ->capture_default_str();
}

std::vector<std::string> user_list(const Options& o) {
  std::vector<std::string> out = o.users;
  for (unsigned i = 0; i < o.user_count; ++i) out.push_back(user_name(o.prefix, o.first_user + i));
  return out;
}

CommonOptions common_options(const Options& o, std::size_t users_needed) {
  CommonOptions c;
  c.target.endpoint = {asio::ip::make_address(o.host), static_cast<std::uint16_t>(o.port)};
  c.target.tls = o.tls;
  c.target.ca_file = o.ca_file;
  c.target.server_name = o.server_name;
  c.target.timeout = std::chrono::milliseconds(static_cast<long>(o.timeout * 1000));
  c.users = user_list(o);
  c.password = o.password;
  c.params.large_size = o.large_size;
  c.params.big_count = o.big_count;
  if (c.users.size() < users_needed) {
    throw CLI::ValidationError(
        fmt::format("{} users needed (one per client), {} given by "
                    "--user/--prefix/--users",
                    users_needed, c.users.size()));
  }
  return c;
}

// Idle runs hold thousands of sockets: raise the descriptor limit as far as allowed (root may
// raise the hard limit too).
void raise_file_limit(std::size_t wanted) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= wanted) return;
  rlimit raised{wanted, std::max<rlim_t>(wanted, limit.rlim_max)};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    raised = {limit.rlim_max, limit.rlim_max};
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
}

void print_result(const std::string& scenario, nlohmann::json result, const ErrorLog& errors,
                  bool json) {
  result["scenario"] = scenario;
  result["errors"] = errors.count();
  result["error_samples"] = errors.to_json();
  result["valid"] = errors.count() == 0;
  if (json) {
    fmt::print("{}\n", result.dump());
    return;
  }
  fmt::print("{}: {}\n", scenario,
             errors.count() == 0 ? "all replies verified" : "INVALID (errors)");
  for (const auto& [key, value] : result.items()) {
    if (key == "scenario" || key == "error_samples") continue;
    fmt::print("  {} = {}\n", key, value.dump());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"postern-bench: a POP3 load generator that verifies every octet it reads"};
  app.require_subcommand(1);
  Options o;

  auto* fixture = app.add_subcommand("fixture", "Write benchmark Maildirs (ROOT/USER/new/...)");
  fixture->add_option("--dir", o.fixture_dir, "Mail root")->required();
  fixture->add_option("--set", o.mail_set, "Which mail: session, large, idle, big, none")
      ->capture_default_str()
      ->check(CLI::IsMember({"session", "large", "idle", "big", "none"}));
  fixture->add_flag("--cur", o.in_cur, "Write into cur/ (NAME:2,) instead of new/");
  fixture->add_flag("--size-in-name", o.size_in_name,
                    "Put ,S=<size>,W=<wire size> in the file names (as Dovecot's LDA does)");
  fixture->add_option("--owner", o.owner, "System user to own the files (e.g. nobody)");
  add_users(fixture, o);
  add_mail(fixture, o);

  auto* sessions =
      app.add_subcommand("sessions", "Full sessions/s: login, STAT, LIST, UIDL, RETR all, QUIT");
  add_target(sessions, o);
  add_loop(sessions, o);
  sessions->add_flag("--resume", o.resume, "Offer the previous TLS session (resumption)");

  auto* logins = app.add_subcommand("logins", "USER/PASS/QUIT per second");
  add_target(logins, o);
  add_loop(logins, o);

  auto* retr = app.add_subcommand("retr", "MB/s of one large RETR");
  add_target(retr, o);
  retr->add_option("--repeat", o.repeat, "RETRs in the session (median reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  retr->add_flag("--raw-baseline", o.raw_baseline, "Also time a raw loopback copy of the octets");
  retr->add_option("--raw-sender-cpu", o.raw_sender_cpu, "CPU for the raw copy's sending thread");

  auto* idle = app.add_subcommand("idle", "Hold one logged-in connection per user");
  add_target(idle, o);
  idle->add_option("--parallel", o.parallel, "Connections being opened at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  idle->add_option("--hold", o.hold, "Longest hold in seconds (a line on stdin ends it sooner)")
      ->capture_default_str();

  auto* maildrop = app.add_subcommand("maildrop", "Login + STAT + UIDL on a big maildrop");
  add_target(maildrop, o);
  maildrop->add_option("--mail-of", o.mail_of,
                       "The user the fixture was written for, if not the login user (a copy)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  }

  ErrorLog errors(o.max_errors);
  try {
    if (fixture->parsed()) {
      FixtureOptions f;
      f.root = o.fixture_dir;
      f.set = parse_mail_set(o.mail_set);
      f.users = user_list(o);
      f.params = {o.large_size, o.big_count};
      f.in_cur = o.in_cur;
      f.size_in_name = o.size_in_name;
      if (!o.owner.empty()) f.owner = o.owner;
      const std::size_t files = write_fixture(f);
      fmt::print("wrote {} messages for {} users under {}\n", files, f.users.size(), o.fixture_dir);
      return 0;
    }
    nlohmann::json result;
    std::string scenario;
    if (sessions->parsed()) {
      scenario = o.tls ? (o.resume ? "sessions-tls-resume" : "sessions-tls") : "sessions";
      result = run_sessions(common_options(o, o.loop.clients), o.loop, o.resume, errors);
    } else if (logins->parsed()) {
      scenario = "logins";
      result = run_logins(common_options(o, o.loop.clients), o.loop, errors);
    } else if (retr->parsed()) {
      scenario = "retr";
      result = run_retr(common_options(o, 1), o.repeat, o.raw_baseline, o.raw_sender_cpu, errors);
    } else if (idle->parsed()) {
      scenario = "idle";
      const CommonOptions common = common_options(o, 1);
      raise_file_limit(common.users.size() + 256);
      result = run_idle(common, o.parallel, o.hold, errors);
    } else if (maildrop->parsed()) {
      scenario = "maildrop";
      result = run_maildrop(common_options(o, 1), o.mail_of, errors);
    }
    print_result(scenario, result, errors, o.json);
  } catch (const CLI::ValidationError& e) {
    fmt::print(stderr, "postern-bench: {}\n", e.what());
    return exit_usage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "postern-bench: {}\n", e.what());
    return exit_software;
  }
  if (errors.count() != 0) {
    fmt::print(stderr,
               "postern-bench: {} error(s): the server's replies were not all correct, "
               "so this run has no score\n",
               errors.count());
  }
  return errors.exit_code();
}
