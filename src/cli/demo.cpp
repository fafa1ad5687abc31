// `postern demo`: a working server in one step, for a first look. A demo user with sample mail,
// a self-signed certificate, a config on unprivileged loopback ports (STLS and implicit TLS),
// and the lines to type to see it work.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "auth/password_scheme.hpp"
#include "cli/commands.hpp"
#include "net/self_signed.hpp"
#include "store/maildir_delivery.hpp"

namespace postern::cli {
namespace {

constexpr std::string_view demo_user = "demo";
constexpr std::string_view demo_password = "demo-password";

// Sample mail that shows the edge cases a POP3 server must get right.
const char* const sample_messages[] = {
    "From: postern <postmaster@localhost>\nTo: demo@localhost\nSubject: Welcome to postern\n"
    "Date: Thu, 26 Nov 2026 09:00:00 +0000\nMessage-ID: <welcome@postern.demo>\n\n"
    "This message was delivered to the demo maildir.\nDownload it with any POP3 client.\n",
    "From: postern <postmaster@localhost>\nTo: demo@localhost\nSubject: Dots and lines\n"
    "Date: Thu, 26 Nov 2026 09:01:00 +0000\nMessage-ID: <dots@postern.demo>\n\n"
    "The next line starts with a dot, which POP3 must stuff on the wire:\n.hidden\n.\n"
    "And this message ends without a final newline.",
    "From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@localhost>\nTo: demo@localhost\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\nDate: Thu, 26 Nov 2026 09:02:00 +0000\n"
    "Message-ID: <utf8@postern.demo>\nContent-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n\nGrüße aus dem Maildir — 8-bit UTF-8 text.\n",
};

void write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error(fmt::format("cannot write {}", path.string()));
}

}  // namespace

int run_demo(const std::filesystem::path& data_dir, unsigned port, unsigned tls_port) {
  try {
    std::filesystem::create_directories(data_dir);
    const auto dir = std::filesystem::canonical(data_dir);
    const auto users = dir / "users";
    if (!std::filesystem::exists(users)) {
      const auto hash = auth::hash_password(demo_password, auth::HashScheme::yescrypt);
      write_file(users, fmt::format("{}:{}::::::\n", demo_user, hash));
      std::filesystem::permissions(
          users, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }
    const auto maildir = dir / "mail" / demo_user;
    if (!std::filesystem::exists(maildir)) {
      for (const char* message : sample_messages) store::deliver_to_maildir(maildir, message);
    }
    const auto certificate = dir / "tls" / "cert.pem";
    const auto private_key = dir / "tls" / "key.pem";
    if (!std::filesystem::exists(certificate) || !std::filesystem::exists(private_key)) {
      std::filesystem::create_directories(dir / "tls");
      std::filesystem::remove(certificate);
      std::filesystem::remove(private_key);
      net::write_self_signed_certificate(certificate, private_key);
    }
    const auto config = dir / "postern.toml";
    write_file(
        config,
        fmt::format("# Written by `postern demo`; see docs/configuration.md for every setting.\n"
                    "[server]\nhostname = \"localhost\"\n\n"
                    "[[listen]]\naddress = \"127.0.0.1:{}\"\ntls = \"starttls\"\n\n"
                    "[[listen]]\naddress = \"127.0.0.1:{}\"\ntls = \"implicit\"\n\n"
                    "[tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n\n"
                    "# Plaintext USER/PASS only from loopback (the default trusted_networks).\n"
                    "[auth]\npasswd_file = \"{}\"\nallow_plaintext = false\n\n"
                    "[mail]\nmaildir = \"{}/mail/%n\"\n",
                    port, tls_port, certificate.string(), private_key.string(), users.string(),
                    dir.string()));
    std::cout
        << fmt::format(
               "\npostern demo: user \"{0}\", password \"{1}\", mail in {2}\n"
               "  list the mail:      curl pop3://{0}:{1}@127.0.0.1:{3}/\n"
               "  fetch message 1:    curl pop3://{0}:{1}@127.0.0.1:{3}/1\n"
               "  over TLS (POP3S):   curl --insecure pop3s://{0}:{1}@127.0.0.1:{4}/1\n"
               "  over STLS:          curl --insecure --ssl-reqd pop3://{0}:{1}@127.0.0.1:{3}/1\n"
               "  or talk to it:      telnet 127.0.0.1 {3}   (USER {0} / PASS {1} / LIST / QUIT)\n"
               "The certificate is self-signed ({5}), hence --insecure.\n"
               "Stop with Ctrl-C. Re-running keeps the mail that is left.\n\n",
               demo_user, demo_password, maildir.string(), port, tls_port, certificate.string())
        << std::flush;
    return run_serve(config);
  } catch (const std::exception& e) {
    std::cerr << "postern demo: " << e.what() << "\n";
    return exit_failure;
  }
}

}  // namespace postern::cli
