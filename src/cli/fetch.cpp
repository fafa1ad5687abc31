// `postern fetch`: the command line of the download client. Turns the arguments into accounts
// (the one-shot pop3s:// form or the accounts file), runs them in parallel and reports; the
// work itself is in src/fetch/.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "cli/commands.hpp"
#include "fetch/account.hpp"
#include "fetch/error.hpp"
#include "fetch/reporter.hpp"
#include "fetch/runner.hpp"
#include "fetch/url.hpp"

namespace postern::cli {
namespace {

using namespace postern::fetch;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The one-shot options given, by name, for the message when they come without a URL.
std::vector<std::string> one_shot_options(const FetchCommand& c) {
  std::vector<std::string> used;
  const auto add = [&used](bool present, const char* name) {
    if (present) used.emplace_back(name);
  };
  add(c.to.has_value(), "--to");
  add(c.mbox.has_value(), "--mbox");
  add(c.mda.has_value(), "--mda");
  add(c.keep, "--keep");
  add(c.remove, "--delete");
  add(c.no_tls, "--no-tls");
  add(c.insecure, "--insecure");
  add(c.password_file.has_value(), "--password-file");
  add(c.password_command.has_value(), "--password-command");
  add(c.state_dir.has_value(), "--state-dir");
  add(c.tls_ca_file.has_value(), "--tls-ca-file");
  add(c.tls_fingerprint.has_value(), "--tls-fingerprint");
  add(c.timeout.has_value(), "--timeout");
  return used;
}

// The journal records where a message went: that must mean the same from any working folder.
std::filesystem::path absolute_path(const std::filesystem::path& p) {
  std::error_code ec;
  const auto out = std::filesystem::absolute(p, ec);
  return (ec ? p : out).lexically_normal();
}

Account one_shot_account(const FetchCommand& c, const AccountEnvironment& env) {
  if (c.targets.size() != 1) throw UsageError("give one pop3s:// URL at a time");
  if (c.config_file) throw UsageError("--config and a pop3s:// URL do not go together");
  FetchUrl url;
  try {
    url = parse_fetch_url(c.targets.front());
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  Account a = account_from_url(url, env);
  if (c.keep && c.remove) throw UsageError("--keep and --delete do not go together");
  a.mode = c.remove ? RemoteMode::remove : RemoteMode::keep;
  if (c.no_tls) {
    if (url.implicit_tls) throw UsageError("--no-tls is for pop3:// URLs (pop3s:// is TLS)");
    if (c.insecure || c.tls_ca_file || c.tls_fingerprint) {
      throw UsageError("--no-tls does not go with --insecure, --tls-ca-file or --tls-fingerprint");
    }
    a.tls = TlsMode::none;
    a.allow_plaintext = true;
  }
  a.insecure = c.insecure;
  if (c.tls_fingerprint) {
    if (c.insecure) throw UsageError("--insecure and --tls-fingerprint do not go together");
    a.tls_fingerprint = parse_fingerprint(*c.tls_fingerprint);
    if (!a.tls_fingerprint) {
      throw UsageError(
          "--tls-fingerprint: expected 64 hex digits, e.g. AB:CD:... (openssl x509 "
          "-noout -fingerprint -sha256)");
    }
  }
  if (c.tls_ca_file) {
    if (c.insecure) throw UsageError("--insecure and --tls-ca-file do not go together");
    a.tls_ca_file = absolute_path(*c.tls_ca_file);
  }
  const int targets = (c.to ? 1 : 0) + (c.mbox ? 1 : 0) + (c.mda ? 1 : 0);
  if (targets > 1) throw UsageError("give only one of --to, --mbox and --mda");
  if (c.mbox) {
    a.deliver = DeliverTo::mbox;
    a.deliver_path = absolute_path(*c.mbox);
  } else if (c.mda) {
    a.deliver = DeliverTo::mda;
    a.mda_command = *c.mda;
    if (a.mda_command.empty()) throw UsageError("--mda: the command is empty");
  } else {
    a.deliver = DeliverTo::maildir;
    a.deliver_path = absolute_path(c.to ? *c.to : env.home / "Maildir");
  }
  if (c.password_file && c.password_command) {
    throw UsageError("--password-file and --password-command do not go together");
  }
  if (c.password_file) {
    a.password = {PasswordSource::Kind::file, absolute_path(*c.password_file).string()};
  } else if (c.password_command) {
    a.password = {PasswordSource::Kind::command, *c.password_command};
  } else if (std::getenv("POSTERN_PASSWORD") != nullptr) {
    a.password = {PasswordSource::Kind::env, "POSTERN_PASSWORD"};
  } else {
    a.password = {PasswordSource::Kind::prompt, {}};
  }
  if (c.state_dir) a.state_dir = absolute_path(*c.state_dir);
  if (c.timeout) a.timeout = std::chrono::seconds(*c.timeout);
  return a;
}

std::vector<Account> file_accounts(const FetchCommand& c, const AccountEnvironment& env) {
  if (const auto used = one_shot_options(c); !used.empty()) {
    throw UsageError(
        fmt::format("{} only goes with a pop3s:// URL; for accounts in the file, set "
                    "it there (docs/fetch.md)",
                    used.front()));
  }
  const auto file = c.config_file ? *c.config_file : env.default_config();
  std::vector<Account> all = load_accounts(file, env);
  if (c.targets.empty()) return all;
  std::vector<Account> chosen;
  for (const auto& name : c.targets) {
    bool found = false;
    for (const auto& a : all) {
      if (a.name == name) {
        chosen.push_back(a);
        found = true;
      }
    }
    if (!found) throw UsageError(fmt::format("no account named \"{}\" in {}", name, file.string()));
  }
  return chosen;
}

std::string_view action_word(PlannedAction action) {
  switch (action) {
    case PlannedAction::fetch: return "fetch";
    case PlannedAction::headers: return "headers";
    case PlannedAction::skip: return "skip";
    case PlannedAction::remove: return "delete";
    case PlannedAction::keep: break;
  }
  return "keep";
}

void print_plan(const AccountResult& r) {
  std::size_t counts[5] = {0, 0, 0, 0, 0};
  std::uint64_t octets = 0;
  for (const auto& m : r.plan) {
    ++counts[static_cast<std::size_t>(m.action)];
    if (m.action == PlannedAction::keep) continue;
    if (m.action == PlannedAction::fetch) octets += m.size;
    std::printf("%s %llu %s %llu %s\n", r.label.c_str(), static_cast<unsigned long long>(m.number),
                m.uidl.empty() ? "-" : m.uidl.c_str(), static_cast<unsigned long long>(m.size),
                std::string(action_word(m.action)).c_str());
  }
  std::printf(
      "%s: would fetch %zu (%s), headers only %zu, skip %zu, delete %zu; %zu already "
      "here\n",
      r.label.c_str(), counts[0], format_octets(octets).c_str(), counts[1], counts[2], counts[3],
      counts[4]);
}

}  // namespace

int run_fetch(const FetchCommand& c) {
  const auto env = AccountEnvironment::from_process();
  std::vector<Account> accounts;
  try {
    const bool one_shot = !c.targets.empty() && c.targets.front().find("://") != std::string::npos;
    accounts = one_shot ? std::vector<Account>{one_shot_account(c, env)} : file_accounts(c, env);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "postern fetch: %s\n", e.what());
    return exit_usage;
  } catch (const FetchError& e) {
    std::fprintf(stderr, "postern fetch: %s\n", e.what());
    return exit_code_of(e.kind());
  }
  if (c.insecure && !c.quiet) {
    std::fprintf(stderr,
                 "postern fetch: WARNING: --insecure: the server's certificate is not checked; "
                 "anyone on the way can read your password and your mail\n");
  }
  RunOptions options;
  options.dry_run = c.dry_run;
  options.verbose = c.verbose;
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  TerminalReporter reporter(stderr, terminal && !c.verbose, c.quiet);
  const auto results = fetch_accounts(accounts, options, reporter, c.jobs);
  reporter.finish();
  for (const auto& r : results) {
    if (r.error) std::fprintf(stderr, "postern fetch: %s: %s\n", r.label.c_str(), r.error->what());
    if (c.dry_run && !r.error) {
      print_plan(r);
    } else if (!c.quiet) {
      std::printf("%s\n", summary_line(r).c_str());
    }
  }
  std::fflush(stdout);
  return exit_code_for(results);
}

}  // namespace postern::cli
