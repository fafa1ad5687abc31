"""postern fetch's TLS against postern serve (harness certificates) and against fake servers.

Verification failures name host:port and the reason (hostname / IP address mismatch, an
untrusted CA) and log nothing in; SHA-256 pinning accepts the pinned certificate even from an
untrusted CA and refuses any other; STLS stripping (a server, or a man in the middle, that
drops STLS from CAPA or answers STLS with -ERR) makes a pop3:// fetch refuse before any
credential leaves, and plaintext happens only with --no-tls.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import unittest

import test_fetch_smoke as smoke
from postern_harness import (ServerFixture, TestCertificates, cert_fingerprint, free_port,
                             postern_bin, require_postern, tls_config_text)

PASSWORD = "secret pass with spaces"  # alice's in the harness
RUN_TIMEOUT = 120
MESSAGE = b"From: a@example.com\nSubject: tls\n\nbody\n"
CREDENTIAL_COMMANDS = (b"USER", b"PASS", b"AUTH", b"APOP")


class FakePop3:
    """A scripted POP3 server on 127.0.0.1 that records every line it receives.

    capa: the CAPA lines (None: CAPA answers -ERR); stls_reply: what STLS gets. After a login it
    serves an empty maildrop, so a --no-tls run completes."""

    def __init__(self, capa, stls_reply=b"-ERR not today", greeting=b"+OK fake ready"):
        self.capa, self.stls_reply, self.greeting = capa, stls_reply, greeting
        self.received = []
        self.credentials = []  # lines that carry a user name, password or digest
        self.in_sasl = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(RUN_TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(RUN_TIMEOUT)
            conn.sendall(self.greeting + b"\r\n")
            buf = b""
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    self.received.append(line)
                    reply = self._reply(line)
                    if reply is None:
                        return
                    conn.sendall(reply)

    def _reply(self, line):
        if self.in_sasl:  # the client's answer to "+ ": a credential
            self.in_sasl = False
            self.credentials.append(line)
            return b"+OK logged in\r\n"
        verb = line.split(b" ", 1)[0].upper()
        if verb in CREDENTIAL_COMMANDS:
            self.credentials.append(line)
        if verb == b"CAPA":
            if self.capa is None:
                return b"-ERR unknown command\r\n"
            return b"+OK\r\n" + b"".join(c + b"\r\n" for c in self.capa) + b".\r\n"
        if verb == b"STLS":
            return self.stls_reply + b"\r\n"
        if verb == b"AUTH":
            if len(line.split(b" ")) > 2:
                return b"+OK logged in\r\n"
            self.in_sasl = True
            return b"+ \r\n"
        if verb in (b"USER", b"PASS", b"APOP", b"NOOP", b"RSET"):
            return b"+OK\r\n"
        if verb == b"STAT":
            return b"+OK 0 0\r\n"
        if verb in (b"LIST", b"UIDL"):
            return b"+OK\r\n.\r\n"
        if verb == b"QUIT":
            return b"+OK bye\r\n"
        return b"-ERR what?\r\n"

    def credentials_seen(self):
        return list(self.credentials)

    def close(self):
        self.sock.close()
        self.thread.join(10)


class FetchTls(unittest.TestCase):

    def setUp(self):
        require_postern(self)
        self.work = tempfile.mkdtemp(prefix="postern-fetch-tls-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.home = os.path.join(self.work, "home")
        os.makedirs(self.home)
        self.certs = TestCertificates(os.path.join(self.work, "tls"))
        self.maildir = os.path.join(self.work, "Mail")

    def serve(self, cert, key):
        """postern serve with STLS on .port and implicit TLS on .tls_port, one message for
        alice."""
        server = ServerFixture()
        self.addCleanup(server.cleanup)
        server.tls_port = free_port()
        server.start(listen={"tls": "starttls"},
                     extra=tls_config_text(cert, key, implicit_port=server.tls_port))
        server.wait_for_log(rf"listening on 127\.0\.0\.1:{server.tls_port} tls=implicit")
        server.add_message("alice", MESSAGE)
        return server

    def fetch(self, *args, codes=(0,)):
        env = dict(os.environ, HOME=self.home, POSTERN_PASSWORD=PASSWORD)
        for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            env.pop(name, None)
        r = subprocess.run([postern_bin(), "fetch", *args], capture_output=True, text=True,
                           env=env, stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT)
        self.assertIn(r.returncode, codes,
                      f"postern fetch {' '.join(args)} exited with {r.returncode}\n"
                      f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
        return r

    def assert_nothing_stored(self):
        self.assertEqual(smoke.read_maildir(self.maildir), [])

    # -- verification -----------------------------------------------------------------------------

    def test_certificate_for_another_name_is_refused_over_both_tls_forms(self):
        cert, key = self.certs.issue("other", common_name="mail.example.org",
                                     alt_names="DNS:mail.example.org")
        server = self.serve(cert, key)
        ca = ("--tls-ca-file", self.certs.ca_cert, "--to", self.maildir)
        for url, reason in ((f"pop3s://alice@127.0.0.1:{server.tls_port}", "IP address mismatch"),
                            (f"pop3s://alice@localhost:{server.tls_port}", "hostname mismatch"),
                            (f"pop3://alice@127.0.0.1:{server.port}", "IP address mismatch"),
                            (f"pop3://alice@localhost:{server.port}", "hostname mismatch")):
            host_port = url.split("@", 1)[1]
            r = self.fetch(url, *ca, codes=(1,))
            self.assertIn(f"{host_port}: certificate verify failed: {reason}", r.stderr, url)
            self.assertNotIn(PASSWORD, r.stderr + r.stdout)
        self.assert_nothing_stored()
        self.assertEqual(server.events("login"), [])
        self.assertEqual(server.events("login-failed"), [])

    def test_certificate_from_an_untrusted_ca_is_refused(self):
        cert, key = self.certs.issue("server")
        server = self.serve(cert, key)
        stranger = TestCertificates(os.path.join(self.work, "other-ca"))
        for url in (f"pop3s://alice@127.0.0.1:{server.tls_port}",
                    f"pop3://alice@localhost:{server.port}"):
            host_port = url.split("@", 1)[1]
            # Another CA given, and the system store (which does not know the test CA).
            for extra in (("--tls-ca-file", stranger.ca_cert), ()):
                r = self.fetch(url, *extra, "--to", self.maildir, codes=(1,))
                self.assertRegex(r.stderr, rf"{host_port}: certificate verify failed: "
                                           r"unable to get local issuer certificate")
        self.assert_nothing_stored()
        self.assertEqual(server.events("login"), [])
        # The right CA: the same servers are fine.
        self.fetch(f"pop3s://alice@127.0.0.1:{server.tls_port}", "--tls-ca-file",
                   self.certs.ca_cert, "--to", self.maildir)
        self.assertEqual(smoke.read_maildir(self.maildir), [MESSAGE])

    def test_pinned_fingerprint_is_enough_and_required(self):
        # Issued by a CA nobody trusts, for a name that is not the one dialled: the pin alone
        # decides.
        stranger = TestCertificates(os.path.join(self.work, "other-ca"))
        cert, key = stranger.issue("pinned", common_name="mail.example.org",
                                   alt_names="DNS:mail.example.org")
        server = self.serve(cert, key)
        pin = cert_fingerprint(cert)
        implicit = f"pop3s://alice@127.0.0.1:{server.tls_port}"
        wrong = pin[:-2] + ("00" if not pin.endswith("00") else "11")
        for url in (implicit, f"pop3://alice@127.0.0.1:{server.port}"):
            r = self.fetch(url, "--tls-fingerprint", wrong, "--to", self.maildir, codes=(1,))
            self.assertIn("certificate fingerprint mismatch", r.stderr)
            self.assertIn(url.split("@", 1)[1], r.stderr)
        # A pin names the server's own certificate: the issuing CA's fingerprint is no match.
        r = self.fetch(implicit, "--tls-fingerprint", cert_fingerprint(stranger.ca_cert),
                       "--to", self.maildir, codes=(1,))
        self.assertIn("certificate fingerprint mismatch", r.stderr)
        self.assert_nothing_stored()
        self.assertEqual(server.events("login"), [])
        # The right pin, in the colon form openssl prints, over STLS through an accounts file.
        colons = ":".join(pin[i:i + 2] for i in range(0, 64, 2)).upper()
        config = os.path.join(self.work, "fetch.toml")
        with open(config, "w") as f:
            f.write(textwrap.dedent(f"""\
                [[account]]
                host = "127.0.0.1"
                port = {server.port}
                tls = "starttls"
                user = "alice"
                password_env = "POSTERN_PASSWORD"
                tls_fingerprint = "{colons}"
                maildir = "{self.maildir}"
                """))
        r = self.fetch("--config", config)
        self.assertIn("1 new", r.stdout)
        self.assertEqual(smoke.read_maildir(self.maildir), [MESSAGE])
        # And the hex form on the command line, implicit TLS, another folder.
        other = os.path.join(self.work, "Other")
        self.fetch(implicit, "--tls-fingerprint", pin, "--to", other)
        self.assertEqual(smoke.read_maildir(other), [MESSAGE])

    # -- STLS stripping ---------------------------------------------------------------------------

    def strip(self, capa, stls_reply=b"-ERR not today", greeting=b"+OK fake ready"):
        fake = FakePop3(capa, stls_reply, greeting)
        self.addCleanup(fake.close)
        return fake

    def test_server_without_stls_in_capa_gets_no_password(self):
        # APOP in the greeting and SASL PLAIN in CAPA: tempting, and still refused.
        fake = self.strip([b"USER", b"UIDL", b"TOP", b"SASL PLAIN"],
                          greeting=b"+OK fake <1234.5678@fake.example>")
        r = self.fetch(f"pop3://alice@127.0.0.1:{fake.port}", "--to", self.maildir,
                       "--verbose", codes=(1,))
        self.assertIn(f"127.0.0.1:{fake.port}: the server does not offer STLS", r.stderr)
        self.assertIn("refusing to log in without it", r.stderr)
        fake.close()
        self.assertEqual(fake.credentials_seen(), [], fake.received)
        self.assertIn(b"CAPA", fake.received)
        self.assertNotIn(PASSWORD, r.stderr + r.stdout)
        self.assert_nothing_stored()

    def test_stls_answered_with_err_gets_no_password(self):
        for capa in ([b"STLS", b"USER", b"SASL PLAIN"], None):  # offered, or no CAPA at all
            fake = self.strip(capa, greeting=b"+OK fake <1.2@fake.example>")
            r = self.fetch(f"pop3://alice@127.0.0.1:{fake.port}", "--to", self.maildir,
                           codes=(1,))
            self.assertIn("alice@127.0.0.1: the server refused STLS (-ERR not today); "
                          "refusing to go on without TLS", r.stderr)
            fake.close()
            self.assertIn(b"STLS", fake.received, capa)
            self.assertEqual(fake.credentials_seen(), [], (capa, fake.received))
        self.assert_nothing_stored()

    def test_plaintext_only_with_no_tls(self):
        fake = self.strip([b"USER", b"UIDL"])
        r = self.fetch(f"pop3://alice@127.0.0.1:{fake.port}", "--no-tls", "--to", self.maildir)
        self.assertIn("0 new", r.stdout)
        fake.close()
        self.assertIn(b"USER alice", fake.received)
        self.assertIn(f"PASS {PASSWORD}".encode(), fake.received)
        self.assertNotIn(b"STLS", fake.received)
        # The accounts file: tls = "none" alone is not consent to a clear password.
        config = os.path.join(self.work, "fetch.toml")
        fake = self.strip([b"USER", b"UIDL"])
        with open(config, "w") as f:
            f.write(textwrap.dedent(f"""\
                [[account]]
                host = "127.0.0.1"
                port = {fake.port}
                tls = "none"
                user = "alice"
                password_env = "POSTERN_PASSWORD"
                maildir = "{self.maildir}"
                """))
        r = self.fetch("--config", config, codes=(77,))
        self.assertIn("refusing to send the password in clear", r.stderr)
        fake.close()
        self.assertEqual(fake.credentials_seen(), [], fake.received)


if __name__ == "__main__":
    unittest.main()
