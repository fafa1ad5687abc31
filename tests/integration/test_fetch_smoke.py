"""postern fetch against postern serve: the first smoke test of the download client.

The real binary on both sides, over real sockets: keep mode into a Maildir byte-identical and a
rerun that fetches nothing, delete mode, mbox and MDA delivery, the TLS forms (STLS and implicit
TLS with a CA file, a pinned fingerprint, --insecure), an accounts file, and the exit codes
(77 wrong password, 75 unreachable, 64 usage, 78 configuration).
The full suite (Dovecot, the kill test, keep_days, size limits) builds on this.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

import fixtures
from postern_harness import (MDA_SCRIPT, ServerFixture, TestCertificates, cert_fingerprint,
                             free_port, lf_form, postern_bin, require_postern, tls_config_text)

PASSWORD = "secret pass with spaces"  # alice's in the harness
RUN_TIMEOUT = 120

FROM_LINES = (
    b"From: Quoting <q@example.com>\n"
    b"Subject: lines an mbox must quote\n"
    b"\n"
    b"From the start of a line\n"
    b">From already quoted\n"
    b">>From twice\n"
    b" From indented\n"
)


def messages():
    return fixtures.small_fixtures() + [("from_lines", FROM_LINES),
                                        ("big", fixtures.big_message(1024 * 1024, seed=7))]


def read_maildir(md):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        if os.path.isdir(d):
            for name in os.listdir(d):
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
    return sorted(out)


def read_mboxrd(path):
    """Messages of an mboxrd file: split at "From " after a blank line, one '>' taken off
    ^>+From lines, the blank separator line dropped."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b"", "an mbox ends with a line end"
    lines = lines[:-1]
    out, current = [], None
    for i, line in enumerate(lines):
        if line.startswith(b"From ") and (i == 0 or lines[i - 1] == b""):
            if current is not None:
                out.append(b"".join(l + b"\n" for l in current[:-1]))
            current = []
            continue
        if re.match(rb"^>+From ", line):
            line = line[1:]
        current.append(line)
    if current is not None:
        out.append(b"".join(l + b"\n" for l in current[:-1]))
    return sorted(out)


class FetchSmoke(unittest.TestCase):

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture()
        self.addCleanup(self.server.cleanup)
        self.certs = TestCertificates(os.path.join(self.server.dir, "tls"))
        self.cert, self.key = self.certs.issue("server")
        self.tls_port = free_port()
        # The main listener offers STLS and also takes plaintext logins (for --no-tls).
        self.server.start(listen={"tls": "starttls"},
                          extra=tls_config_text(self.cert, self.key, implicit_port=self.tls_port))
        self.server.wait_for_log(rf"listening on 127\.0\.0\.1:{self.tls_port} tls=implicit")
        self.work = tempfile.mkdtemp(prefix="postern-fetch-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.home = os.path.join(self.work, "home")
        os.makedirs(self.home)
        self.maildir = os.path.join(self.work, "Mail")
        self.sent = []
        for _name, data in messages():
            self.server.add_message("alice", data)
            self.sent.append(data)

    def expected(self):
        return sorted(lf_form(m) for m in self.sent)

    def fetch(self, *args, password=PASSWORD, codes=(0,), cwd=None):
        env = dict(os.environ, HOME=self.home)
        for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "POSTERN_PASSWORD"):
            env.pop(name, None)
        if password is not None:
            env["POSTERN_PASSWORD"] = password
        r = subprocess.run([postern_bin(), "fetch", *args], capture_output=True, text=True,
                           env=env, stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT, cwd=cwd)
        self.assertIn(r.returncode, codes,
                      f"postern fetch {' '.join(args)} exited with {r.returncode}\n"
                      f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}\n"
                      f"server log:\n{self.server.log_text()[-3000:]}")
        return r

    def plain_url(self, user="alice"):
        return f"pop3://{user}@127.0.0.1:{self.server.port}"

    # -- keep and delete ----------------------------------------------------------------------

    def test_keep_mode_is_byte_identical_and_a_rerun_fetches_nothing(self):
        r = self.fetch(self.plain_url(), "--no-tls", "--to", self.maildir)
        self.assertIn(f"alice@127.0.0.1: {len(self.sent)} new", r.stdout)
        self.assertEqual(read_maildir(self.maildir), self.expected())
        self.assertEqual(len(self.server.message_files("alice")), len(self.sent),
                         "keep mode must leave the server alone")
        r = self.fetch(self.plain_url(), "--no-tls", "--to", self.maildir)
        self.assertIn("alice@127.0.0.1: 0 new", r.stdout)
        self.assertEqual(read_maildir(self.maildir), self.expected())
        # The state lives under $HOME, named after user@host:port.
        state = os.path.join(self.home, ".local", "state", "postern", "fetch",
                             f"alice@127.0.0.1:{self.server.port}")
        with open(os.path.join(state, "uidls"), "rb") as f:
            self.assertEqual(f.readline(), b"postern-fetch-uidls 1\n")
            self.assertEqual(len(f.readlines()), len(self.sent))

    def test_delete_mode_empties_the_server(self):
        # A relative --to is taken from the working folder.
        r = self.fetch(self.plain_url(), "--no-tls", "--delete", "--to", "Mail", cwd=self.work)
        self.assertIn(f"{len(self.sent)} deleted", r.stdout)
        self.assertEqual(read_maildir(self.maildir), self.expected())
        self.assertEqual(self.server.message_files("alice"), [])
        r = self.fetch(self.plain_url(), "--no-tls", "--delete", "--to", self.maildir)
        self.assertIn("0 new", r.stdout)

    # -- other destinations -------------------------------------------------------------------

    def test_mbox_delivery(self):
        mbox = os.path.join(self.work, "inbox")
        self.fetch(self.plain_url(), "--no-tls", "--mbox", mbox)
        self.assertEqual(read_mboxrd(mbox), self.expected())
        self.assertFalse(os.path.exists(mbox + ".lock"))

    def test_mda_delivery(self):
        script = os.path.join(self.work, "mda.py")
        with open(script, "w") as f:
            f.write(MDA_SCRIPT)
        out = os.path.join(self.work, "mda-out")
        os.makedirs(out)
        self.fetch(self.plain_url(), "--no-tls", "--mda", f"{sys.executable} {script} {out}")
        got = []
        for name in os.listdir(out):
            with open(os.path.join(out, name), "rb") as f:
                got.append(f.read())
        self.assertEqual(sorted(got), self.expected())

    # -- TLS ------------------------------------------------------------------------------------

    def test_stls_and_implicit_tls_verified_with_a_ca_file(self):
        self.fetch(f"pop3://alice@localhost:{self.server.port}", "--tls-ca-file",
                   self.certs.ca_cert, "--to", self.maildir)
        self.assertEqual(read_maildir(self.maildir), self.expected())
        ev = self.server.wait_for_event("login", user="alice")
        self.assertRegex(ev.get("tls", ""), r"^TLSv1\.[23]$", ev)
        # Implicit TLS to an IP address: checked against the certificate's IP SAN.
        other = os.path.join(self.work, "Other")
        self.fetch(f"pop3s://alice@127.0.0.1:{self.tls_port}", "--tls-ca-file",
                   self.certs.ca_cert, "--to", other)
        self.assertEqual(read_maildir(other), self.expected())

    def test_unverifiable_certificate_fails_clearly_unless_pinned_or_insecure(self):
        url = f"pop3s://alice@127.0.0.1:{self.tls_port}"
        # The test CA is not in the system store.
        r = self.fetch(url, "--to", self.maildir, codes=(1,))
        self.assertRegex(r.stderr, rf"127\.0\.0\.1:{self.tls_port}: certificate verify failed: "
                                   r"unable to get local issuer certificate")
        self.assertFalse(os.path.exists(os.path.join(self.maildir, "new")) and
                         os.listdir(os.path.join(self.maildir, "new")))
        r = self.fetch(url, "--tls-fingerprint", "00" * 32, "--to", self.maildir, codes=(1,))
        self.assertIn("certificate fingerprint mismatch", r.stderr)
        self.fetch(url, "--tls-fingerprint", cert_fingerprint(self.cert), "--to", self.maildir)
        self.assertEqual(read_maildir(self.maildir), self.expected())
        r = self.fetch(url, "--insecure", "--to", os.path.join(self.work, "Insecure"))
        self.assertIn("WARNING: --insecure", r.stderr)

    def test_certificate_for_another_name_fails_with_the_reason(self):
        other = ServerFixture()
        self.addCleanup(other.cleanup)
        cert, key = self.certs.issue("elsewhere", common_name="mail.example.org",
                                     alt_names="DNS:mail.example.org")
        port = free_port()
        other.start(extra=tls_config_text(cert, key, implicit_port=port))
        other.wait_for_log(rf"listening on 127\.0\.0\.1:{port} tls=implicit")
        r = self.fetch(f"pop3s://alice@127.0.0.1:{port}", "--tls-ca-file", self.certs.ca_cert,
                       "--to", self.maildir, codes=(1,))
        self.assertIn(f"127.0.0.1:{port}: certificate verify failed: IP address mismatch",
                      r.stderr)
        r = self.fetch(f"pop3s://alice@localhost:{port}", "--tls-ca-file", self.certs.ca_cert,
                       "--to", self.maildir, codes=(1,))
        self.assertIn(f"localhost:{port}: certificate verify failed: hostname mismatch",
                      r.stderr)
        self.assertEqual(other.events("login"), [])

    # -- accounts file --------------------------------------------------------------------------

    def test_accounts_file(self):
        pw = os.path.join(self.work, "pw")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pw, 0o600)
        config = os.path.join(self.work, "fetch.toml")
        with open(config, "w") as f:
            f.write(textwrap.dedent(f"""\
                [[account]]
                name = "local"
                host = "127.0.0.1"
                port = {self.tls_port}
                user = "alice"
                password_file = "{pw}"
                tls_ca_file = "{self.certs.ca_cert}"
                maildir = "{self.maildir}"
                """))
        r = self.fetch("--config", config, password=None)
        self.assertIn(f"{len(self.sent)} new", r.stdout)
        self.assertEqual(read_maildir(self.maildir), self.expected())
        r = self.fetch("--config", config, "--dry-run", password=None)
        self.assertIn(f"would fetch 0", r.stdout)
        with open(config, "a") as f:
            f.write('colour = "blue"\n')
        r = self.fetch("--config", config, password=None, codes=(78,))
        self.assertIn(f"{config}:9: key 'account.colour': unknown setting", r.stderr)

    def test_dry_run_lists_and_changes_nothing(self):
        r = self.fetch(self.plain_url(), "--no-tls", "--dry-run", "--to", self.maildir)
        lines = [l for l in r.stdout.splitlines() if l.endswith(" fetch")]
        self.assertEqual(len(lines), len(self.sent), r.stdout)
        self.assertIn(f"would fetch {len(self.sent)}", r.stdout)
        self.assertEqual(read_maildir(self.maildir), [])

    # -- exit codes -------------------------------------------------------------------------------

    def test_wrong_password_exits_77(self):
        r = self.fetch(self.plain_url(), "--no-tls", "--to", self.maildir, "--verbose",
                       password="Wr0ng-Passw0rd", codes=(77,))
        self.assertIn("refused the login", r.stderr)
        self.assertIn("C: AUTH PLAIN ****", r.stderr)  # --verbose shows the dialogue, masked
        self.assertNotIn("Wr0ng-Passw0rd", r.stderr + r.stdout)
        self.assertEqual(read_maildir(self.maildir), [])

    def test_unreachable_server_exits_75(self):
        r = self.fetch(f"pop3://alice@127.0.0.1:{free_port()}", "--no-tls", "--to", self.maildir,
                       codes=(75,))
        self.assertIn("cannot connect", r.stderr)

    def test_plaintext_without_no_tls_requires_stls(self):
        # pop3:// means STLS: the login goes over TLS, and without a trusted CA it fails before
        # any password is sent.
        r = self.fetch(self.plain_url(), "--to", self.maildir, codes=(1,))
        self.assertIn("certificate verify failed", r.stderr)
        self.assertEqual(self.server.events("login"), [])

    def test_usage_errors_exit_64(self):
        for args in (["imap://alice@host"], ["pop3s://alice:pw@host"],
                     ["pop3s://alice@127.0.0.1", "--no-tls"],
                     [self.plain_url(), "--keep", "--delete"],
                     [self.plain_url(), "--to", "a", "--mbox", "b"]):
            r = self.fetch(*args, codes=(64,))
            self.assertTrue(r.stderr.startswith("postern fetch: "), r.stderr)


if __name__ == "__main__":
    unittest.main()
