"""Real POP3 clients against the real server: every fixture, the 5 MiB one included, must arrive
byte-identical (in the client's own line-end convention), in keep mode and in delete mode.

Clients are installed by the project's scripts; a missing client is a failure, not a skip.
Each client runs with HOME set to a temp dir so that no user configuration leaks in.
"""

import os
import pwd
import re
import subprocess
import shutil
import tempfile
import textwrap
import unittest
import urllib.parse

import fixtures
from postern_harness import (MDA_SCRIPT, ServerTestCase, lf_form, parse_multiline_pairs, require_tool,
                             wire_form)

PASSWORD = "secret pass with spaces"
CLIENT_TIMEOUT = 300  # seconds for one client run; generous for a loaded 2-core machine

# fetchmail hands each message to this MDA on stdin; it stores it unchanged as a numbered file.

LATE = (b"From: Late <late@example.com>\nTo: alice@example.org\nSubject: delivered between runs\n"
        b"Message-ID: <late-1@example.com>\n\nThis one arrived after the first fetch.\n")


def message_id(data):
    m = re.search(rb"(?im)^Message-ID:\s*(<[^>]+>)", data)
    return m.group(1) if m else None


class ClientTestCase(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.fixtures = fixtures.all_fixtures()
        for _, data in self.fixtures:
            self.server.add_message("alice", data)
        self.work = tempfile.mkdtemp(prefix="postern-client-")
        self.addCleanup(shutil.rmtree, self.work, True)
        os.chmod(self.work, 0o755)
        self.home = os.path.join(self.work, "home")
        os.makedirs(self.home)

    def run_client(self, argv, ok_codes=(0,), **kw):
        env = dict(os.environ, HOME=self.home)
        env.pop("MAILDIR", None)
        env.pop("FETCHMAILHOME", None)
        try:
            r = subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT, env=env,
                               stdin=subprocess.DEVNULL, **kw)
        except subprocess.TimeoutExpired as e:
            self.fail(f"{argv[0]} did not finish within {CLIENT_TIMEOUT}s: {e.stderr!r}")
        self.assertIn(r.returncode, ok_codes,
                      f"{' '.join(argv)} exited with {r.returncode}\nstdout:\n"
                      f"{r.stdout.decode(errors='replace')[-3000:]}\nstderr:\n"
                      f"{r.stderr.decode(errors='replace')[-3000:]}\nserver log:\n"
                      f"{self.server.log_text()[-3000:]}")
        return r

    def assert_messages(self, got, expected_fixtures, form, what):
        """got: list of downloaded message bytes; expected_fixtures: fixture bytes; form maps a
        fixture to what this client must have written (lf_form or wire_form)."""
        by_id = {}
        for data in got:
            mid = message_id(data)
            self.assertNotIn(mid, by_id, f"{what}: message {mid} downloaded twice")
            by_id[mid] = data
        self.assertEqual(sorted(by_id, key=repr),
                         sorted((message_id(d) for d in expected_fixtures), key=repr),
                         f"{what}: wrong set of messages")
        for data in expected_fixtures:
            mid = message_id(data)
            want, have = form(data), by_id[mid]
            if want != have:
                at = next((i for i in range(min(len(want), len(have))) if want[i] != have[i]),
                          min(len(want), len(have)))
                self.fail(f"{what}: message {mid.decode()} differs at byte {at} "
                          f"(want {len(want)} bytes, got {len(have)}): want "
                          f"{want[max(0, at - 40):at + 40]!r}, got {have[max(0, at - 40):at + 40]!r}")

    def fixture_data(self):
        return [d for _, d in self.fixtures]

    def assert_maildrop_empty(self):
        c = self.server.login("alice")
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("STAT"), b"+OK 0 0")
        self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))
        c.wait_closed()
        md = self.server.maildir("alice")
        self.assertEqual(os.listdir(os.path.join(md, "cur")), [], "cur/ not empty")
        self.assertEqual(os.listdir(os.path.join(md, "new")), [], "new/ not empty")

    def assert_maildrop_full(self, count):
        self.assertEqual(len(self.server.message_files("alice")), count,
                         "keep mode removed messages from the server")

    @staticmethod
    def read_dir(path):
        out = []
        for name in sorted(os.listdir(path)):
            with open(os.path.join(path, name), "rb") as f:
                out.append(f.read())
        return out

    def make_maildir(self, name, owner_uid=None):
        path = os.path.join(self.work, name)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(path, sub))
            if owner_uid is not None:
                os.chown(os.path.join(path, sub), owner_uid, -1)
        if owner_uid is not None:
            os.chown(path, owner_uid, -1)
        return path

    def maildir_messages(self, path):
        return self.read_dir(os.path.join(path, "new")) + self.read_dir(os.path.join(path, "cur"))


class Curl(ClientTestCase):
    """curl writes what RETR sent with dot-stuffing undone and CRLF kept: the wire form."""

    def url(self, path=""):
        user = urllib.parse.quote("alice", safe="")
        pw = urllib.parse.quote(PASSWORD, safe="")
        return f"pop3://{user}:{pw}@127.0.0.1:{self.server.port}/{path}"

    def curl(self, *args):
        return self.run_client([self.curl_bin, "--silent", "--show-error", "--max-time",
                                str(CLIENT_TIMEOUT - 10), *args]).stdout

    def setUp(self):
        super().setUp()
        self.curl_bin = require_tool(self, "curl")

    def test_list_and_retr_every_message(self):
        listing = self.curl(self.url())
        pairs = parse_multiline_pairs(listing)
        self.assertEqual(len(pairs), len(self.fixtures), listing[:500])
        got = []
        for n, size in pairs:
            data = self.curl(self.url(str(n)))
            self.assertEqual(len(data), int(size), f"curl RETR {n}: length vs LIST size")
            got.append(data)
        self.assert_messages(got, self.fixture_data(), wire_form, "curl")
        self.assertEqual(sorted(int(s) for _, s in pairs),
                         sorted(len(wire_form(d)) for d in self.fixture_data()))
        self.assert_maildrop_full(len(self.fixtures))

    def test_dele(self):
        self.curl("--request", "DELE", "--head", self.url("1"))
        c = self.server.login("alice")
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("STAT").startswith(b"+OK %d " % (len(self.fixtures) - 1)))


class Poplib(ClientTestCase):
    """Python's poplib returns lines without line ends, dot-stuffing undone."""

    def connect(self):
        p = self.server.poplib_login("alice", PASSWORD)
        self.addCleanup(p.close)
        return p

    def download(self, p):
        count, _ = p.stat()
        got = []
        for n in range(1, count + 1):
            _, lines, octets = p.retr(n)
            data = b"".join(line + b"\r\n" for line in lines)
            got.append(data)
        return got

    def test_keep_then_delete(self):
        p = self.connect()
        count, total = p.stat()
        self.assertEqual(count, len(self.fixtures))
        self.assertEqual(total, sum(len(wire_form(d)) for d in self.fixture_data()))
        _, uidl_lines, _ = p.uidl()
        self.assertEqual(len(uidl_lines), count)
        self.assert_messages(self.download(p), self.fixture_data(), wire_form, "poplib")
        p.quit()
        self.assert_maildrop_full(len(self.fixtures))

        p = self.connect()
        self.assert_messages(self.download(p), self.fixture_data(), wire_form, "poplib 2nd")
        for n in range(1, count + 1):
            p.dele(n)
        p.quit()
        self.assert_maildrop_empty()


class Fetchmail(ClientTestCase):
    """fetchmail, delivering through an MDA that stores each message verbatim.

    Options that keep fetchmail from rewriting mail: --invisible (no Received: header of its
    own), `no rewrite` (no address rewriting in To/From/Cc), and the MDA path means CRs are
    stripped (stripcr defaults on with an MDA), so files come out in LF form. `sslproto ''`
    stops fetchmail 6.4 from trying STLS on a plaintext listener (it sends STLS even when CAPA
    does not offer it, and gives up when refused).
    """

    def setUp(self):
        super().setUp()
        self.fetchmail = require_tool(self, "fetchmail")
        self.out = os.path.join(self.work, "out")
        os.makedirs(self.out)
        self.mda = os.path.join(self.work, "mda.py")
        with open(self.mda, "w") as f:
            f.write(MDA_SCRIPT)
        self.idfile = os.path.join(self.work, "fetchmail.ids")

    def rcfile(self, keep):
        path = os.path.join(self.work, "fetchmailrc")
        options = "keep" if keep else "no keep fetchall"
        text = textwrap.dedent(f"""\
            set no syslog
            poll 127.0.0.1 with protocol POP3 port {self.server.port} uidl
              user "alice" there with password "{PASSWORD}" is "{pwd.getpwuid(os.getuid()).pw_name}" here
              options {options} no rewrite sslproto ''
              mda "{shutil.which('python3')} {self.mda} {self.out}"
            """)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)  # fetchmail refuses a readable rc file
        return path

    def fetch(self, keep, ok_codes=(0,)):
        return self.run_client([self.fetchmail, "--fetchmailrc", self.rcfile(keep),
                                "--idfile", self.idfile,
                                "--pidfile", os.path.join(self.work, "fetchmail.pid"),
                                "--invisible", "--nosyslog"], ok_codes=ok_codes)

    def test_keep_mode_and_uidl_rerun(self):
        self.fetch(keep=True)
        self.assert_messages(self.read_dir(self.out), self.fixture_data(), lf_form, "fetchmail")
        self.assert_maildrop_full(len(self.fixtures))
        # Second run: nothing new (exit 1 is fetchmail's "no mail").
        self.fetch(keep=True, ok_codes=(1,))
        self.assertEqual(len(os.listdir(self.out)), len(self.fixtures), "re-run fetched again")
        # A new delivery: exactly that one is fetched.
        self.server.add_message("alice", LATE)
        self.fetch(keep=True)
        self.assert_messages(self.read_dir(self.out), self.fixture_data() + [LATE], lf_form,
                             "fetchmail after a new delivery")
        self.assert_maildrop_full(len(self.fixtures) + 1)

    def test_delete_mode(self):
        self.fetch(keep=False)
        self.assert_messages(self.read_dir(self.out), self.fixture_data(), lf_form, "fetchmail")
        self.assert_maildrop_empty()


class Mpop(ClientTestCase):
    """mpop delivering into a maildir. --received-header=off stops it adding a Received:
    header; it writes LF line ends."""

    def setUp(self):
        super().setUp()
        self.mpop = require_tool(self, "mpop")
        self.md = self.make_maildir("mpop-maildir")
        self.uidls = os.path.join(self.work, "mpop.uidls")

    def fetch(self, keep):
        return self.run_client([
            self.mpop, f"--host=127.0.0.1", f"--port={self.server.port}", "--user=alice",
            f"--passwordeval=echo '{PASSWORD}'", "--tls=off", "--auth=user",
            f"--delivery=maildir,{self.md}", f"--keep={'on' if keep else 'off'}",
            f"--uidls-file={self.uidls}", "--received-header=off", "--timeout=120", "--quiet"])

    def test_keep_mode_and_rerun(self):
        self.fetch(keep=True)
        self.assert_messages(self.maildir_messages(self.md), self.fixture_data(), lf_form, "mpop")
        self.assert_maildrop_full(len(self.fixtures))
        self.fetch(keep=True)
        self.assertEqual(len(self.maildir_messages(self.md)), len(self.fixtures),
                         "re-run fetched again")
        self.server.add_message("alice", LATE)
        self.fetch(keep=True)
        self.assert_messages(self.maildir_messages(self.md), self.fixture_data() + [LATE], lf_form,
                             "mpop after a new delivery")

    def test_delete_mode(self):
        self.fetch(keep=False)
        self.assert_messages(self.maildir_messages(self.md), self.fixture_data(), lf_form, "mpop")
        self.assert_maildrop_empty()


class Getmail(ClientTestCase):
    """getmail6 with a SimplePOP3Retriever and a Maildir destination.

    `delivered_to = false` and `received = false` stop two of its header additions, but getmail
    always puts a `Return-Path: <sender>` line on top (from the message's Return-Path or Sender,
    else "unknown"; none of our fixtures has either), so exactly that first line is stripped
    before comparing. getmail re-serialises the message through Python's email package; the
    fixtures are plain enough that this round-trips exactly. It refuses to deliver as root, so
    under root the destination is written as `nobody`.
    """

    RETURN_PATH = b"Return-Path: <unknown>\n"

    def setUp(self):
        super().setUp()
        self.getmail = require_tool(self, "getmail")
        self.deliver_as = None
        owner = None
        if os.geteuid() == 0:
            self.deliver_as = "nobody"
            owner = pwd.getpwnam("nobody").pw_uid
        self.md = self.make_maildir("getmail-maildir", owner)
        self.gmdir = os.path.join(self.work, "getmail")
        os.makedirs(self.gmdir)

    def fetch(self, keep):
        rc = os.path.join(self.gmdir, "getmailrc")
        user_line = f"user = {self.deliver_as}\n" if self.deliver_as else ""
        with open(rc, "w") as f:
            f.write(textwrap.dedent(f"""\
                [retriever]
                type = SimplePOP3Retriever
                server = 127.0.0.1
                port = {self.server.port}
                username = alice
                password = {PASSWORD}
                timeout = 120

                [destination]
                type = Maildir
                path = {self.md}/
                """) + user_line + textwrap.dedent(f"""\

                [options]
                read_all = {'false' if keep else 'true'}
                delete = {'false' if keep else 'true'}
                delivered_to = false
                received = false
                verbose = 0
                """))
        return self.run_client([self.getmail, "--rcfile", rc, "--getmaildir", self.gmdir])

    def downloaded(self):
        out = []
        for data in self.maildir_messages(self.md):
            self.assertTrue(data.startswith(self.RETURN_PATH), data[:100])
            out.append(data[len(self.RETURN_PATH):])
        return out

    def test_keep_mode_and_rerun(self):
        self.fetch(keep=True)
        self.assert_messages(self.downloaded(), self.fixture_data(), lf_form, "getmail")
        self.assert_maildrop_full(len(self.fixtures))
        self.fetch(keep=True)
        self.assertEqual(len(self.downloaded()), len(self.fixtures), "re-run fetched again")
        self.server.add_message("alice", LATE)
        self.fetch(keep=True)
        self.assert_messages(self.downloaded(), self.fixture_data() + [LATE], lf_form,
                             "getmail after a new delivery")

    def test_delete_mode(self):
        self.fetch(keep=False)
        self.assert_messages(self.downloaded(), self.fixture_data(), lf_form, "getmail")
        self.assert_maildrop_empty()


if __name__ == "__main__":
    unittest.main()
