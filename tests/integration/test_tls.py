"""TLS: implicit TLS (POP3S) and STLS (RFC 2595) with real clients (curl, poplib, mpop,
fetchmail, openssl s_client), the STLS injection class (CVE-2011-0411), the plaintext policy,
ALPN, SNI, and certificate reload on SIGHUP.

Certificates come from a throwaway CA made with the openssl command line tool in the test's
temp dir; every client trusts that CA only (no --insecure anywhere).
"""

import os
import poplib
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import textwrap
import time
import unittest

import fixtures
from postern_harness import (CRLF, MDA_SCRIPT, Pop3Line, ServerFixture, ServerTestCase, TestCertificates,
                             cert_fingerprint, free_port, lf_form, require_postern, require_tool,
                             run_postern, tls_config_text, wire_form)

PASSWORD = "secret pass with spaces"
CLIENT_TIMEOUT = 120
REFUSED = b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections"


class TlsServerTestCase(ServerTestCase):
    """The main listener (self.server.port) offers STLS; self.tls_port is implicit TLS.
    Plaintext is refused except from 127.0.0.1 (so a client bound to 127.0.0.2 is untrusted)."""

    auth_config = {"allow_plaintext": False, "trusted_networks": ["127.0.0.1/32"]}
    extra_tls = {}
    server_settings = None

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture()
        self.addCleanup(self.server.cleanup)
        self.certs = TestCertificates(os.path.join(self.server.dir, "tls"))
        self.cert, self.key = self.certs.issue("server")
        self.tls_port = free_port()
        extra = tls_config_text(self.cert, self.key, implicit_port=self.tls_port,
                                **self.extra_tls) + self.more_config()
        self.server.start(listen={"tls": "starttls"}, auth=self.auth_config,
                          server=self.server_settings, extra=extra)
        self.server.wait_for_log(rf"listening on 127\.0\.0\.1:{self.tls_port} tls=implicit")
        self.work = tempfile.mkdtemp(prefix="postern-tls-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.home = os.path.join(self.work, "home")
        os.makedirs(self.home)

    def more_config(self):
        return ""

    def context(self, **kw):
        return self.certs.client_context(**kw)

    def tls_connect(self, server_hostname="localhost", context=None, port=None):
        """A TLS socket to the implicit port after the handshake."""
        raw = socket.create_connection(("127.0.0.1", port or self.tls_port), timeout=30)
        return (context or self.context()).wrap_socket(raw, server_hostname=server_hostname)

    def run_client(self, argv, ok_codes=(0,)):
        env = dict(os.environ, HOME=self.home)
        env.pop("MAILDIR", None)
        env.pop("FETCHMAILHOME", None)
        r = subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT, env=env,
                           stdin=subprocess.DEVNULL)
        self.assertIn(r.returncode, ok_codes,
                      f"{' '.join(argv)} exited with {r.returncode}\nstdout:\n"
                      f"{r.stdout.decode(errors='replace')[-3000:]}\nstderr:\n"
                      f"{r.stderr.decode(errors='replace')[-3000:]}\nserver log:\n"
                      f"{self.server.log_text()[-3000:]}")
        return r

    def assert_tls_login_logged(self):
        ev = self.server.wait_for_event("login", user="alice")
        self.assertRegex(ev.get("tls", ""), r"^TLSv1\.[23]$", ev)


class Curl(TlsServerTestCase):

    def setUp(self):
        super().setUp()
        self.curl = require_tool(self, "curl")
        self.server.add_message("alice", fixtures.NORMAL)
        self.server.add_message("alice", fixtures.DOTS)

    def fetch(self, url, *extra):
        r = self.run_client([self.curl, "--silent", "--show-error", "--max-time", "60",
                             "--cacert", self.certs.ca_cert, "--user", f"alice:{PASSWORD}",
                             *extra, url])
        return r.stdout

    def test_pop3s_retr_is_byte_identical(self):
        for n, data in ((1, fixtures.NORMAL), (2, fixtures.DOTS)):
            got = self.fetch(f"pop3s://localhost:{self.tls_port}/{n}",
                             "--resolve", f"localhost:{self.tls_port}:127.0.0.1")
            self.assertEqual(got, wire_form(data), f"message {n} over pop3s://")
        self.assert_tls_login_logged()

    def test_stls_with_ssl_reqd_is_byte_identical(self):
        for n, data in ((1, fixtures.NORMAL), (2, fixtures.DOTS)):
            got = self.fetch(f"pop3://localhost:{self.server.port}/{n}", "--ssl-reqd",
                             "--resolve", f"localhost:{self.server.port}:127.0.0.1")
            self.assertEqual(got, wire_form(data), f"message {n} over pop3:// + STLS")
        self.assert_tls_login_logged()


class Poplib(TlsServerTestCase):

    def setUp(self):
        super().setUp()
        self.server.add_message("alice", fixtures.NORMAL)

    def check_session(self, p):
        caps = p.capa()
        self.assertNotIn("STLS", caps, "STLS advertised on a TLS connection")
        self.assertIn("USER", caps, "USER not advertised although TLS is active")
        p.user("alice")
        p.pass_(PASSWORD)
        _, lines, _ = p.retr(1)
        self.assertEqual(b"".join(l + CRLF for l in lines), wire_form(fixtures.NORMAL))
        self.assertTrue(p.quit().startswith(b"+OK"))

    def test_stls(self):
        p = poplib.POP3("127.0.0.1", self.server.port, timeout=30)
        self.addCleanup(p.close)
        self.assertIn("STLS", p.capa())
        self.assertTrue(p.stls(context=self.context()).startswith(b"+OK"))
        self.check_session(p)
        self.assert_tls_login_logged()

    def test_pop3_ssl(self):
        p = poplib.POP3_SSL("127.0.0.1", self.tls_port, context=self.context(), timeout=30)
        self.addCleanup(p.close)
        self.check_session(p)
        self.assert_tls_login_logged()


class Mpop(TlsServerTestCase):

    def setUp(self):
        super().setUp()
        self.mpop = require_tool(self, "mpop")
        for data in (fixtures.NORMAL, fixtures.DOTS):
            self.server.add_message("alice", data)
        self.md = os.path.join(self.work, "maildir")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(self.md, sub))

    def fetch(self, port, starttls):
        self.run_client([
            self.mpop, "--host=127.0.0.1", f"--port={port}", "--user=alice",
            f"--passwordeval=echo '{PASSWORD}'", "--tls=on",
            f"--tls-starttls={'on' if starttls else 'off'}",
            f"--tls-trust-file={self.certs.ca_cert}", "--auth=user",
            f"--delivery=maildir,{self.md}", "--keep=on",
            f"--uidls-file={os.path.join(self.work, 'uidls')}", "--received-header=off",
            "--timeout=60", "--quiet"])
        got = []
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(os.path.join(self.md, sub))):
                with open(os.path.join(self.md, sub, name), "rb") as f:
                    got.append(f.read())
        self.assertEqual(sorted(got), sorted(lf_form(d) for d in (fixtures.NORMAL, fixtures.DOTS)))
        self.assert_tls_login_logged()

    def test_starttls(self):
        self.fetch(self.server.port, starttls=True)

    def test_implicit_tls(self):
        self.fetch(self.tls_port, starttls=False)




class Fetchmail(TlsServerTestCase):

    def setUp(self):
        super().setUp()
        self.fetchmail = require_tool(self, "fetchmail")
        for data in (fixtures.NORMAL, fixtures.DOTS):
            self.server.add_message("alice", data)
        self.out = os.path.join(self.work, "out")
        os.makedirs(self.out)
        self.mda = os.path.join(self.work, "mda.py")
        with open(self.mda, "w") as f:
            f.write(MDA_SCRIPT)

    def test_implicit_tls_with_certificate_check(self):
        rc = os.path.join(self.work, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(textwrap.dedent(f"""\
                set no syslog
                poll 127.0.0.1 with protocol POP3 port {self.tls_port} uidl
                  user "alice" there with password "{PASSWORD}" is "{pwd.getpwuid(os.getuid()).pw_name}" here
                  options keep no rewrite
                  mda "{shutil.which('python3')} {self.mda} {self.out}"
                """))
        os.chmod(rc, 0o600)
        self.run_client([self.fetchmail, "--fetchmailrc", rc, "--ssl", "--sslproto", "TLS1.2+",
                         "--sslcertck", "--sslcertfile", self.certs.ca_cert,
                         "--sslcommonname", "localhost",
                         "--idfile", os.path.join(self.work, "ids"),
                         "--pidfile", os.path.join(self.work, "fetchmail.pid"),
                         "--invisible", "--nosyslog"])
        got = []
        for name in sorted(os.listdir(self.out)):
            with open(os.path.join(self.out, name), "rb") as f:
                got.append(f.read())
        self.assertEqual(sorted(got), sorted(lf_form(d) for d in (fixtures.NORMAL, fixtures.DOTS)))
        self.assert_tls_login_logged()


class Protocol(TlsServerTestCase):

    def test_tls_1_1_is_refused(self):
        openssl = require_tool(self, "openssl")
        # SECLEVEL=0 so that the client really offers TLS 1.1 and the refusal is the server's.
        r = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{self.tls_port}",
                            "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
                           input=b"QUIT\r\n", capture_output=True, timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stdout.decode(errors="replace"))
        self.assertNotIn(b"+OK", r.stdout)

    def test_tls_1_2_is_accepted(self):
        context = self.context(maximum_version=ssl.TLSVersion.TLSv1_2)
        with self.tls_connect(context=context) as s:
            self.assertEqual(s.version(), "TLSv1.2")
            self.assertTrue(s.recv(1000).startswith(b"+OK"))

    def test_stls_injection_is_discarded(self):
        # CVE-2011-0411: "CAPA" sent in the clear in the same packet as STLS must not be
        # answered inside the TLS session.
        c = self.server.connect()
        self.addCleanup(c.close)
        c.send(b"STLS\r\nCAPA\r\n")
        self.assertEqual(c.read_line(), b"+OK Begin TLS negotiation")
        self.assertEqual(bytes(c.buf), b"", "bytes after the STLS answer, in the clear")
        tls = self.context().wrap_socket(c.sock, server_hostname="localhost")
        self.addCleanup(tls.close)
        line = Pop3Line.__new__(Pop3Line)
        line.sock, line.buf, line.greeting = tls, bytearray(), None
        # NOOP is a TRANSACTION command: before login its answer is an -ERR, and it must be the
        # very first thing the TLS session says (an injected CAPA would answer +OK first).
        self.assertEqual(line.cmd("NOOP"), b"-ERR Not logged in")
        self.assertTrue(line.cmd("QUIT").startswith(b"+OK"))
        self.assertEqual(line.wait_closed(), [])

    def test_plaintext_refused_from_untrusted_address(self):
        c = Pop3Line(self.server.port, source="127.0.0.2")
        self.addCleanup(c.close)
        c.read_greeting()
        self.assertTrue(c.cmd("CAPA").startswith(b"+OK"))
        caps = c.read_multiline().split(b"\r\n")
        self.assertNotIn(b"USER", caps)
        self.assertIn(b"STLS", caps)
        self.assertEqual(c.cmd("USER alice"), REFUSED)
        self.assertEqual(c.cmd(b"PASS " + PASSWORD.encode()), REFUSED)
        # The same address after STLS may log in.
        self.assertTrue(c.cmd("STLS").startswith(b"+OK"))
        tls = self.context().wrap_socket(c.sock, server_hostname="localhost")
        self.addCleanup(tls.close)
        line = Pop3Line.__new__(Pop3Line)
        line.sock, line.buf, line.greeting = tls, bytearray(), None
        self.assertTrue(line.login("alice", PASSWORD).startswith(b"+OK"))
        self.assertTrue(line.cmd("QUIT").startswith(b"+OK"))

    def test_plaintext_allowed_from_trusted_address(self):
        c = self.server.connect()  # from 127.0.0.1, inside trusted_networks
        self.addCleanup(c.close)
        self.assertTrue(c.login("alice", PASSWORD).startswith(b"+OK"))
        ev = self.server.wait_for_event("login", user="alice")
        self.assertEqual(ev.get("tls"), "no", ev)

    def test_stls_refused_on_implicit_tls(self):
        with self.tls_connect() as s:
            f = s.makefile("rb")
            self.assertTrue(f.readline().startswith(b"+OK"))
            s.sendall(b"STLS\r\n")
            self.assertTrue(f.readline().startswith(b"-ERR"))

    def test_alpn_pop3_is_selected_and_other_protocols_are_tolerated(self):
        for offered, selected in ((["pop3"], "pop3"), (["imap"], None), (None, None)):
            with self.subTest(offered=offered):
                context = self.context()
                if offered:
                    context.set_alpn_protocols(offered)
                with self.tls_connect(context=context) as s:
                    self.assertEqual(s.selected_alpn_protocol(), selected)
                    self.assertTrue(s.recv(1000).startswith(b"+OK"))

    def test_failed_handshake_leaves_the_server_healthy(self):
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=30) as s:
            s.sendall(b"USER alice\r\n")  # not a TLS ClientHello
            s.settimeout(30)
            try:
                while s.recv(1000):
                    pass
            except ConnectionResetError:
                pass
        with self.tls_connect() as s:
            self.assertTrue(s.recv(1000).startswith(b"+OK"))


class HandshakeTimeout(TlsServerTestCase):
    server_settings = {"idle_timeout": "1s"}

    def test_silent_client_is_dropped_after_the_idle_timeout(self):
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=30) as s:
            s.settimeout(30)
            self.assertEqual(s.recv(1000), b"", "no ClientHello, yet the server kept waiting")


class Sni(TlsServerTestCase):

    def more_config(self):
        self.net_cert, self.net_key = self.certs.issue(
            "net", common_name="mail.example.net", alt_names="DNS:mail.example.net")
        return textwrap.dedent(f"""\
            [[tls.sni]]
            server_name = "mail.example.net"
            certificate = "{self.net_cert}"
            private_key = "{self.net_key}"
            """)

    def test_certificate_follows_the_requested_name(self):
        with self.tls_connect(server_hostname="mail.example.net") as s:
            self.assertEqual(cert_fingerprint(s.getpeercert(True)), cert_fingerprint(self.net_cert))
        with self.tls_connect(server_hostname="localhost") as s:
            self.assertEqual(cert_fingerprint(s.getpeercert(True)), cert_fingerprint(self.cert))
        context = self.context(check_hostname=False)
        with self.tls_connect(server_hostname=None, context=context) as s:
            self.assertEqual(cert_fingerprint(s.getpeercert(True)), cert_fingerprint(self.cert))


class Reload(TlsServerTestCase):

    def test_sighup_swaps_the_certificate_and_open_sessions_go_on(self):
        self.server.add_message("alice", fixtures.NORMAL)
        old = poplib.POP3_SSL("127.0.0.1", self.tls_port, context=self.context(), timeout=30)
        self.addCleanup(old.close)
        old.user("alice")
        old.pass_(PASSWORD)
        self.assertEqual(cert_fingerprint(old.sock.getpeercert(True)), cert_fingerprint(self.cert))

        new_cert, new_key = self.certs.issue("server2")
        shutil.copyfile(new_cert, self.cert)
        shutil.copyfile(new_key, self.key)
        since = len(self.server.log_lines)
        self.server.process.send_signal(signal.SIGHUP)
        self.server.wait_for_log(r"tls-reloaded", since=since)

        with self.tls_connect() as s:
            self.assertEqual(cert_fingerprint(s.getpeercert(True)), cert_fingerprint(new_cert))
        self.assertTrue(old.noop().startswith(b"+OK"))
        self.assertTrue(old.quit().startswith(b"+OK"))

        # A broken file: the reload fails, says why, and the last good certificate stays.
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        since = len(self.server.log_lines)
        self.server.process.send_signal(signal.SIGHUP)
        self.server.wait_for_log(r"tls-reload-failed.*" + os.path.basename(self.cert), since=since)
        with self.tls_connect() as s:
            self.assertEqual(cert_fingerprint(s.getpeercert(True)), cert_fingerprint(new_cert))
        self.assertTrue(self.server.alive())


class Demo(unittest.TestCase):
    """`postern demo` makes its own self-signed certificate and serves POP3S and STLS."""

    def test_demo_serves_tls_with_its_self_signed_certificate(self):
        binary = require_postern(self)
        work = tempfile.mkdtemp(prefix="postern-demo-")
        self.addCleanup(shutil.rmtree, work, True)
        port, tls_port = free_port(), free_port()
        log = open(os.path.join(work, "stderr"), "w+")
        self.addCleanup(log.close)
        process = subprocess.Popen([binary, "demo", "--dir", os.path.join(work, "d"), "--port",
                                    str(port), "--tls-port", str(tls_port)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)

        def stop():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # by PID: only the process started here
                process.wait(60)
            process.stdout.close()
        self.addCleanup(stop)
        banner = b""
        while b"Stop with Ctrl-C" not in banner:
            line = process.stdout.readline()
            self.assertTrue(line, f"demo ended early: {banner!r}")
            banner += line
        self.assertIn(f"curl --insecure pop3s://demo:demo-password@127.0.0.1:{tls_port}/".encode(),
                      banner)
        cert = os.path.join(work, "d", "tls", "cert.pem")
        key = os.path.join(work, "d", "tls", "key.pem")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"],
                              capture_output=True, text=True).stdout
        self.assertIn("CN = localhost", text)
        self.assertIn("DNS:localhost", text)
        self.assertIn("IP Address:127.0.0.1", text)
        context = ssl.create_default_context(cafile=cert)
        deadline = 60
        while True:
            try:
                p = poplib.POP3_SSL("localhost", tls_port, context=context, timeout=30)
                break
            except ConnectionRefusedError:
                deadline -= 1
                self.assertGreater(deadline, 0, "demo never listened on its TLS port")
                time.sleep(0.5)
        self.addCleanup(p.close)
        p.user("demo")
        p.pass_("demo-password")
        self.assertEqual(p.stat()[0], 3)
        p.quit()
        s = poplib.POP3("127.0.0.1", port, timeout=30)
        self.addCleanup(s.close)
        self.assertIn("STLS", s.capa())
        s.stls(context=ssl.create_default_context(cafile=cert))
        s.quit()


class StartupErrors(unittest.TestCase):
    """A TLS setup that cannot work stops serve and check-config with exit 78, naming the key
    and the file."""

    def setUp(self):
        require_postern(self)
        self.fx = ServerFixture()
        self.addCleanup(self.fx.cleanup)
        self.fx.port = free_port()
        self.certs = TestCertificates(os.path.join(self.fx.dir, "tls"))
        self.cert, self.key = self.certs.issue("server")

    def assert_refused(self, text, *needles):
        path = os.path.join(self.fx.dir, "bad.toml")
        with open(path, "w") as f:
            f.write(text)
        for command in ("check-config", "serve"):
            with self.subTest(command=command):
                r = run_postern([command, "--config", path], timeout=60)
                self.assertEqual(r.returncode, 78, r.stderr)
                for needle in needles:
                    self.assertIn(needle, r.stderr)

    def config(self, cert=None, key=None, listen_tls="implicit"):
        text = self.fx.config_text(listen={"tls": listen_tls})
        if cert is not None:
            text += tls_config_text(cert, key)
        return text

    def test_tls_listener_without_certificate(self):
        self.assert_refused(self.config(), "tls.certificate")

    def test_missing_certificate_file(self):
        missing = os.path.join(self.fx.dir, "nope.pem")
        self.assert_refused(self.config(missing, self.key), "tls.certificate", missing)

    def test_unreadable_key_file(self):
        if os.getuid() == 0:
            missing = os.path.join(self.fx.dir, "nope.key")  # root reads any mode: use absence
            self.assert_refused(self.config(self.cert, missing), "tls.private_key", missing)
            return
        os.chmod(self.key, 0)
        self.assert_refused(self.config(self.cert, self.key), "tls.private_key", self.key)

    def test_key_that_does_not_match(self):
        _, other_key = self.certs.issue("other")
        self.assert_refused(self.config(self.cert, other_key), "tls.private_key", other_key,
                            "does not match")

    def test_not_a_certificate(self):
        self.assert_refused(self.config(self.key, self.key), "tls.certificate", self.key)

    def test_bad_trusted_network(self):
        text = self.fx.config_text(auth={"trusted_networks": ["10.0.0.0/33"]})
        self.assert_refused(text, "trusted_networks", "10.0.0.0/33")

    def test_check_config_accepts_a_good_tls_setup(self):
        path = os.path.join(self.fx.dir, "good.toml")
        with open(path, "w") as f:
            f.write(self.config(self.cert, self.key))
        r = run_postern(["check-config", "--config", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('tls = "implicit"', r.stdout)
        self.assertIn(self.cert, r.stdout)


if __name__ == "__main__":
    unittest.main()
