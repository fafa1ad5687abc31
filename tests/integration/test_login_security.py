"""Login security against the real server: the failed-login delay curve, a parallel good client
not slowed, refusal after repeated failures, fail2ban on the real log, CIDR allow/deny for IPv4
and IPv6, connection caps, and the privilege drop.

Delays are asserted as lower bounds only (a slow machine can only make them longer), and the
"nobody else is slowed" property as an order of events, never as a duration.
"""

import os
import pwd
import re
import select
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from postern_harness import (ConnectionClosed, Pop3Line, ServerFixture, ServerTestCase,
                             free_port, postern_bin, require_postern)

FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib",
                      "fail2ban", "postern.conf")


def fail2ban_matched(test, log_lines):
    """How many of the server's log lines the real fail2ban-regex matches with our filter."""
    if shutil.which("fail2ban-regex") is None:
        test.fail("fail2ban-regex not found (scripts/install-deps --test installs fail2ban)")
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
        f.write("\n".join(l for l in log_lines if l.strip()) + "\n")
    test.addCleanup(os.unlink, f.name)
    result = subprocess.run(["fail2ban-regex", f.name, FILTER], capture_output=True, text=True,
                            timeout=120)
    test.assertEqual(result.returncode, 0, result.stderr)
    m = re.search(r"Lines: (\d+) lines, (\d+) ignored, (\d+) matched", result.stdout)
    test.assertIsNotNone(m, result.stdout)
    return int(m.group(3))


def connect(port, source=None, family=socket.AF_INET, host="127.0.0.1"):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(30)
    if source:
        sock.bind((source, 0))
    sock.connect((host, port))
    c = Pop3Line.__new__(Pop3Line)
    c.sock, c.buf, c.greeting = sock, bytearray(), None
    return c


def first_line_or_close(c):
    """The greeting (or refusal) line, or None when the server closed without a word."""
    try:
        return c.read_line()
    except (ConnectionClosed, ConnectionResetError):
        return None


class DelayCurve(ServerTestCase):
    """50 wrong passwords from one address: each reply waits at least the configured delay,
    doubling up to the cap; fail2ban-regex finds all 50 in the server's real log."""

    server_config = {"auth": {"failure_delay": "10ms", "max_failure_delay": "80ms",
                              "block_after_failures": 1000},
                     "server": {"max_auth_failures": 100}}

    def test_fifty_failures_follow_the_curve_and_are_all_logged(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        expected = [min(0.010 * 2 ** i, 0.080) for i in range(50)]
        measured = []
        for _ in expected:
            self.assertTrue(c.cmd("USER alice").startswith(b"+OK"))
            start = time.monotonic()
            reply = c.cmd("PASS wrong")
            measured.append(time.monotonic() - start)
            self.assertTrue(reply.startswith(b"-ERR [AUTH]"), reply)
        print("failure delays (ms):", ", ".join(f"{m * 1000:.0f}" for m in measured[:6]), "...")
        for want, got in zip(expected, measured):
            self.assertGreaterEqual(got, want * 0.95, f"delays {measured} vs {expected}")
        # The right password still works on the same connection afterwards.
        self.assertTrue(c.login("alice", self.server.users["alice"]).startswith(b"+OK"))
        lines = self.server.log_text().splitlines()
        self.assertEqual(sum(" auth-failed " in l for l in lines), 50)
        self.assertEqual(fail2ban_matched(self, lines), 50)


class OthersNotSlowed(ServerTestCase):
    server_config = {"auth": {"failure_delay": "3s"}}

    def test_good_client_logs_in_while_an_attacker_waits(self):
        for _ in range(2):  # the second failure from this address waits 6 s
            attacker = self.server.connect()
            self.addCleanup(attacker.close)
            attacker.cmd("USER alice")
            attacker.send(b"PASS wrong\r\n")
        # Same address as the attacker: only failed replies are delayed, nobody's login is.
        good = self.server.login("bob")
        self.addCleanup(good.close)
        self.assertTrue(good.cmd("STAT").startswith(b"+OK"))
        self.assertTrue(good.cmd("QUIT").startswith(b"+OK"))
        readable, _, _ = select.select([attacker.sock], [], [], 0)
        self.assertEqual(readable, [], "the attacker's delayed reply came before the good login")
        self.assertTrue(attacker.read_line().startswith(b"-ERR [AUTH]"))


class Refusal(ServerTestCase):
    server_config = {"auth": {"failure_delay": "50ms", "max_failure_delay": "50ms",
                              "block_after_failures": 3, "block_window": "10m",
                              "block_duration": "15m"},
                     "server": {"max_auth_failures": 100}}

    def test_address_is_refused_after_repeated_failures(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        for _ in range(3):
            c.cmd("USER alice")
            self.assertTrue(c.cmd("PASS wrong").startswith(b"-ERR [AUTH]"))
        refused = connect(self.server.port)
        self.addCleanup(refused.close)
        line = first_line_or_close(refused)
        self.assertIsNotNone(line)
        self.assertTrue(line.startswith(b"-ERR [SYS/TEMP]"), line)
        self.server.wait_for_event("connection-refused", reason="too many failed logins")
        # Another address is served as usual.
        other = connect(self.server.port, source="127.0.0.2")
        self.addCleanup(other.close)
        self.assertTrue(first_line_or_close(other).startswith(b"+OK"))

    def test_fail2ban_matches_every_failure_in_the_real_log(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        for user in ("alice", "nosuchuser", "../../etc"):
            c.cmd(f"USER {user}")
            c.cmd("PASS wrong")
        self.server.wait_for_event("auth-failed", user="../../etc")
        lines = self.server.log_text().splitlines()
        failures = [l for l in lines if " auth-failed " in l]
        self.assertGreaterEqual(len(failures), 3)
        self.assertEqual(fail2ban_matched(self, lines), len(failures))


class AccessRules(unittest.TestCase):
    def start(self, access, v6_port=None):
        require_postern(self)
        server = ServerFixture()
        self.addCleanup(server.cleanup)
        extra = "[access]\n" + "".join(f"{k} = {v}\n" for k, v in access.items())
        if v6_port:
            extra += f'\n[[listen]]\naddress = "[::1]:{v6_port}"\n'
        server.start(extra=extra)
        if v6_port:  # the harness waits for the first listener only
            server.wait_for_log(rf"listening on \[::1\]:{v6_port}")
        return server

    def greeted(self, port, **kw):
        c = connect(port, **kw)
        self.addCleanup(c.close)
        line = first_line_or_close(c)
        return line is not None and line.startswith(b"+OK")

    def test_ipv4_deny(self):
        server = self.start({"deny": '["127.0.0.2/32"]'})
        self.assertFalse(self.greeted(server.port, source="127.0.0.2"))
        self.assertTrue(self.greeted(server.port, source="127.0.0.3"))
        server.wait_for_event("connection-refused", reason="access rules")

    def test_ipv4_allow_list(self):
        server = self.start({"allow": '["127.0.0.0/30"]', "deny": '["127.0.0.2/32"]'})
        self.assertTrue(self.greeted(server.port, source="127.0.0.1"))
        self.assertFalse(self.greeted(server.port, source="127.0.0.2"), "deny wins over allow")
        self.assertFalse(self.greeted(server.port, source="127.0.0.9"), "not in allow")

    def test_ipv6_allow_and_deny(self):
        v6 = free_port()
        server = self.start({"allow": '["::1/128"]'}, v6_port=v6)
        self.assertTrue(self.greeted(v6, family=socket.AF_INET6, host="::1"))
        self.assertFalse(self.greeted(server.port), "IPv4 peer not in the allow list")
        v6b = free_port()
        denied = self.start({"deny": '["::/0"]'}, v6_port=v6b)
        self.assertFalse(self.greeted(v6b, family=socket.AF_INET6, host="::1"))
        self.assertTrue(self.greeted(denied.port))

    def test_bad_cidr_is_a_config_error(self):
        require_postern(self)
        server = ServerFixture()
        self.addCleanup(server.cleanup)
        server.write_config(extra='[access]\ndeny = ["10.0.0.0/33"]\n')
        result = subprocess.run([postern_bin(), "check-config", "--config", server.config_file],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 78, result.stderr)
        self.assertIn("access.deny", result.stderr)


class ConnectionCaps(ServerTestCase):
    server_config = {"extra": "[limits]\nconnections = 4\nconnections_per_address = 2\n"}

    def test_per_address_and_total_caps(self):
        held = [connect(self.server.port) for _ in range(2)]
        for c in held:
            self.addCleanup(c.close)
            self.assertTrue(first_line_or_close(c).startswith(b"+OK"))
        third = connect(self.server.port)
        self.addCleanup(third.close)
        line = first_line_or_close(third)
        self.assertTrue(line is not None and line.startswith(b"-ERR [SYS/TEMP]"), line)
        others = [connect(self.server.port, source=f"127.0.0.{i}") for i in (2, 3)]
        for c in others:
            self.addCleanup(c.close)
            self.assertTrue(first_line_or_close(c).startswith(b"+OK"))
        fifth = connect(self.server.port, source="127.0.0.4")
        self.addCleanup(fifth.close)
        line = first_line_or_close(fifth)
        self.assertTrue(line is not None and b"Too many connections" in line, line)
        # A slot frees when a connection ends.
        held[0].cmd("QUIT")
        held[0].close()
        deadline = time.monotonic() + 20
        while True:
            again = connect(self.server.port)
            line = first_line_or_close(again)
            again.close()
            if line and line.startswith(b"+OK"):
                break
            self.assertLess(time.monotonic(), deadline, "slot never freed")
            time.sleep(0.1)


class PrivilegeDrop(unittest.TestCase):
    def test_server_runs_as_the_configured_user(self):
        require_postern(self)
        if os.geteuid() != 0:
            self.skipTest("needs root to drop privileges")
        nobody = pwd.getpwnam("nobody")
        server = ServerFixture()
        self.addCleanup(server.cleanup)
        server.add_message("alice", b"Subject: x\n\nread as nobody\n")
        os.chmod(server.dir, 0o755)
        for root, dirs, files in os.walk(server.dir):
            for name in dirs + files:
                os.chown(os.path.join(root, name), nobody.pw_uid, nobody.pw_gid)
        server.start(server={"user": "nobody", "group": "nogroup"})
        server.wait_for_log(r"running as user=nobody")
        with open(f"/proc/{server.process.pid}/status") as f:
            status = f.read()
        uids = [l for l in status.splitlines() if l.startswith("Uid:")][0].split()[1:]
        self.assertEqual(set(uids), {str(nobody.pw_uid)}, status)
        c = server.login("alice")
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("RETR 1").startswith(b"+OK"))
        self.assertIn(b"read as nobody", c.read_multiline())
        self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))


if __name__ == "__main__":
    unittest.main()


class CredentialCache(unittest.TestCase):
    """The auth cache ([auth] cache_ttl, on by default) remembers verified passwords; it must
    never outlive a password change or a removed user in the passwd-file."""

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture(users={})
        self.addCleanup(self.server.cleanup)
        self.set_password("s3cret-one")
        self.server.start()

    def set_password(self, password):
        r = subprocess.run([postern_bin(), "user", "passwd" if os.path.getsize(
            self.server.passwd_file) else "add", "carol", "--passwd-file",
            self.server.passwd_file], input=password + "\n", capture_output=True, text=True,
            timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def login_reply(self, password):
        c = self.server.connect()
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("USER carol").startswith(b"+OK"))
        reply = c.cmd(f"PASS {password}")
        if reply.startswith(b"+OK"):
            self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))  # unlock for the next login
        return reply

    def test_changed_password_and_removed_user_take_effect_at_once(self):
        for _ in range(3):  # the first login fills the cache, the others are answered from it
            self.assertTrue(self.login_reply("s3cret-one").startswith(b"+OK"))
        self.assertTrue(self.login_reply("s3cret-two").startswith(b"-ERR"))
        time.sleep(1.1)  # the passwd-file is re-read at most once a second: let the edit count
        self.set_password("s3cret-two")
        time.sleep(1.1)
        self.assertTrue(self.login_reply("s3cret-one").startswith(b"-ERR [AUTH]"))
        self.assertTrue(self.login_reply("s3cret-two").startswith(b"+OK"))
        r = subprocess.run([postern_bin(), "user", "del", "carol", "--passwd-file",
                            self.server.passwd_file], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(1.1)
        self.assertTrue(self.login_reply("s3cret-two").startswith(b"-ERR [AUTH]"))
