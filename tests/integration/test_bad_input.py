"""Hostile and broken input to `postern serve`: long lines, NULs, floods, traversal names, drops.

After each attack the server must still be alive and serve a normal session.
"""

import os
import random
import socket
import threading
import time
import unittest

import fixtures
from postern_harness import (ConnectionClosed, ServerFixture, ServerTestCase, require_postern,
                             snapshot_tree, wire_form)

PASSWORD = "secret pass with spaces"


class LongLines(ServerTestCase):

    def test_long_line_before_login(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        self.assertErr(c.cmd(b"X" * 10000), "10,000-byte line")
        self.assertOk(c.cmd("CAPA"), "CAPA after the long line")
        c.read_multiline()
        self.assertOk(c.login("alice", PASSWORD), "login after the long line")
        self.assert_server_healthy()

    def test_long_line_after_login(self):
        self.server.add_message("alice", fixtures.NORMAL)
        c = self.server.login("alice")
        self.addCleanup(c.close)
        self.assertErr(c.cmd(b"NOOP " + b"a" * 10000), "10,000-byte NOOP line")
        self.assertOk(c.cmd("NOOP"), "NOOP after the long line")
        self.assertEqual(c.cmd("STAT"), b"+OK 1 %d" % len(wire_form(fixtures.NORMAL)))
        self.assertErr(c.cmd(b"DELE 1" + b" " * 10000), "DELE 1 padded to 10,000 bytes")
        self.assertOk(c.cmd("QUIT"))
        c.wait_closed()
        # The over-long DELE was discarded, not executed.
        self.assertEqual(len(self.server.message_files("alice")), 1)
        self.assert_server_healthy()

    def test_long_line_and_next_command_in_one_write(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        c.send(b"A" * 10000 + b"\r\nNOOP\r\nUSER alice\r\n")
        self.assertErr(c.read_line(), "long line")
        self.assertErr(c.read_line(), "NOOP before login")  # the one answer per line, in order
        self.assertOk(c.read_line(), "USER after the long line")
        self.assertOk(c.cmd(f"PASS {PASSWORD}"))

    def test_long_line_sent_in_small_pieces(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        line = b"PASS " + b"p" * 9995
        for i in range(0, len(line), 100):
            c.send(line[i:i + 100])
            time.sleep(0.001)
        c.send(b"\r\n")
        self.assertErr(c.read_line(), "10,000-byte PASS line in pieces")
        self.assertOk(c.login("alice", PASSWORD))

    def test_long_password_is_refused(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        self.assertOk(c.cmd("USER alice"))
        self.assertErr(c.cmd(b"PASS " + b"x" * 10000))
        self.assertOk(c.login("alice", PASSWORD))

    def test_empty_line(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        self.assertErr(c.cmd(b""), "empty command line")
        self.assertOk(c.login("alice", PASSWORD))
        self.assertErr(c.cmd(b""), "empty command line after login")
        self.assertOk(c.cmd("NOOP"))


class NulBytes(ServerTestCase):
    server_config = {"server": {"max_bad_commands": 50}}

    def test_nul_before_login(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        for line in (b"NO\x00OP", b"\x00", b"CAPA\x00", b"\x00USER alice", b"QUIT\x00"):
            self.assertErr(c.cmd(line), repr(line))
        r = c.cmd(b"USER al\x00ice")
        if r.startswith(b"+OK"):  # a server may defer the name check to PASS
            self.assertErr(c.cmd(f"PASS {PASSWORD}"), "PASS for a name with NUL")
        else:
            self.assertErr(r)
        r = c.cmd(b"USER alice")
        self.assertOk(r)
        self.assertErr(c.cmd(b"PASS secret pass\x00 with spaces"), "password with NUL")
        self.assertOk(c.login("alice", PASSWORD))
        self.assert_server_healthy_after(c)

    def test_nul_after_login_executes_nothing(self):
        self.server.add_message("alice", fixtures.NORMAL)
        c = self.server.login("alice")
        self.addCleanup(c.close)
        for line in (b"STAT\x00", b"RETR 1\x00", b"LIST \x001", b"DELE\x00 1", b"DELE 1\x00",
                     b"\x00DELE 1", b"TOP 1 0\x00", b"UIDL\x00"):
            self.assertErr(c.cmd(line), repr(line))
        self.assertEqual(c.cmd("STAT"), b"+OK 1 %d" % len(wire_form(fixtures.NORMAL)))
        self.assertOk(c.cmd("QUIT"))
        c.wait_closed()
        self.assertEqual(len(self.server.message_files("alice")), 1, "a NUL-laden DELE deleted")
        self.assert_server_healthy()

    def assert_server_healthy_after(self, c):
        self.assertOk(c.cmd("STAT"))
        self.assertOk(c.cmd("QUIT"))
        c.wait_closed()
        self.assert_server_healthy()


def send_in_thread(c, data):
    """Write while the caller reads, so that neither side can block the other."""
    errors = []

    def run():
        try:
            c.send(data)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


class Pipelining(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.server.add_message("alice", fixtures.NORMAL)
        self.server.add_message("alice", fixtures.DOTS)
        self.total = len(wire_form(fixtures.NORMAL)) + len(wire_form(fixtures.DOTS))

    def expect(self, command, size1):
        if command == b"NOOP":
            return None
        if command == b"STAT":
            return b"+OK 2 %d" % self.total
        if command == b"LIST 1":
            return b"+OK 1 %d" % size1

    def test_thousand_pipelined_commands(self):
        c = self.server.login("alice")
        self.addCleanup(c.close)
        size1 = int(c.cmd("LIST 1").split()[2])
        commands = [(b"NOOP", b"STAT", b"LIST 1")[i % 3] for i in range(1000)]
        t, errors = send_in_thread(c, b"".join(cmd + b"\r\n" for cmd in commands))
        for i, command in enumerate(commands):
            line = c.read_line()
            expected = self.expect(command, size1)
            if expected is None:
                self.assertOk(line, f"answer {i} ({command!r})")
            else:
                self.assertEqual(line, expected, f"answer {i} ({command!r})")
        t.join(30)
        self.assertEqual(errors, [])
        # Exactly 1,000 answers: the next line is the answer to the next command.
        self.assertTrue(c.cmd("UIDL 2").startswith(b"+OK 2 "))
        self.assert_server_healthy_after(c)

    def test_thousand_pipelined_commands_right_after_login(self):
        # Commands sent in the same write as USER/PASS must survive the login hand-off.
        c = self.server.connect()
        self.addCleanup(c.close)
        commands = [(b"NOOP", b"STAT", b"LIST 1")[i % 3] for i in range(1000)]
        data = f"USER alice\r\nPASS {PASSWORD}\r\n".encode() + b"".join(
            cmd + b"\r\n" for cmd in commands) + b"QUIT\r\n"
        t, errors = send_in_thread(c, data)
        self.assertOk(c.read_line(), "USER")
        self.assertOk(c.read_line(), "PASS")
        size1 = None
        for i, command in enumerate(commands):
            line = c.read_line()
            if command == b"LIST 1" and size1 is None:
                size1 = int(line.split()[2])
            expected = self.expect(command, size1)
            if expected is None:
                self.assertOk(line, f"answer {i} ({command!r})")
            else:
                self.assertEqual(line, expected, f"answer {i} ({command!r})")
        self.assertOk(c.read_line(), "QUIT")
        c.wait_closed()
        t.join(30)
        self.assert_server_healthy()

    def test_hundred_thousand_pipelined_commands(self):
        # docs/protocol.md: 100,000 pipelined commands are answered in order in bounded memory.
        c = self.server.login("alice")
        self.addCleanup(c.close)
        count = 100000
        t, errors = send_in_thread(c, b"NOOP\r\n" * (count - 1) + b"STAT\r\n")
        for i in range(count - 1):
            line = c.read_line()
            if not line.startswith(b"+OK"):
                self.fail(f"answer {i}: {line!r}")
        self.assertEqual(c.read_line(), b"+OK 2 %d" % self.total, "the last answer")
        t.join(60)
        self.assertEqual(errors, [])
        self.assert_server_healthy_after(c)

    def test_pipelined_multiline_answers_in_order(self):
        c = self.server.login("alice")
        self.addCleanup(c.close)
        self.assertOk(c.cmd("RETR 1"))
        first = c.read_multiline()
        script = []
        for i in range(200):
            script.append((b"RETR 1", "retr"))
            script.append((b"LIST", "list"))
            script.append((b"NOOP", "one"))
            script.append((b"UIDL", "uidl"))
            script.append((b"TOP 2 1", "top"))
        t, errors = send_in_thread(c, b"".join(cmd + b"\r\n" for cmd, _ in script))
        for i, (command, kind) in enumerate(script):
            self.assertOk(c.read_line(), f"answer {i} ({command!r})")
            if kind == "retr":
                self.assertEqual(c.read_multiline(), first, f"answer {i}")
            elif kind in ("list", "uidl"):
                self.assertEqual(len(c.read_multiline().split(b"\r\n")), 3, f"answer {i}")
            elif kind == "top":
                c.read_multiline()
        t.join(30)
        self.assertEqual(errors, [])
        self.assert_server_healthy_after(c)

    def assert_server_healthy_after(self, c):
        self.assertOk(c.cmd("QUIT"))
        c.wait_closed()
        self.assertEqual(len(self.server.message_files("alice")), 2)
        self.assert_server_healthy()


class BadCommandLimit(ServerTestCase):
    LIMIT = 5
    server_config = {"server": {"max_bad_commands": LIMIT}}

    def assert_closed_after_limit(self, c):
        """The last bad command got -ERR; the server may add one closing -ERR, then EOF."""
        try:
            lines = c.wait_closed()
        except ConnectionResetError:
            lines = []
        self.assertLessEqual(len(lines), 1, lines)
        for line in lines:
            self.assertTrue(line.startswith(b"-ERR"), lines)

    def test_limit_closes_the_connection(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        for i in range(self.LIMIT):
            self.assertErr(c.cmd(f"GARBAGE{i}"), f"bad command {i + 1}")
        self.assert_closed_after_limit(c)
        self.assert_server_healthy()

    def test_good_command_resets_the_count(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        for _round in range(3):
            for i in range(self.LIMIT - 1):
                self.assertErr(c.cmd(f"GARBAGE{i}"))
            self.assertOk(c.cmd("CAPA"), "CAPA after limit-1 bad commands")
            c.read_multiline()
        self.assertOk(c.login("alice", PASSWORD))
        for i in range(self.LIMIT - 1):
            self.assertErr(c.cmd(f"GARBAGE{i}"))
        self.assertOk(c.cmd("NOOP"))
        self.assertOk(c.cmd("QUIT"))

    def test_limit_after_login_deletes_nothing(self):
        self.server.add_message("alice", fixtures.NORMAL)
        c = self.server.login("alice")
        self.addCleanup(c.close)
        self.assertOk(c.cmd("DELE 1"))
        for i in range(self.LIMIT):
            self.assertErr(c.cmd(f"JUNK {i}"))
        self.assert_closed_after_limit(c)
        self.assertEqual(len(self.server.message_files("alice")), 1)
        self.assert_server_healthy()

    def test_flood_of_garbage_in_one_write(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        try:
            c.send(b"".join(b"BOGUS %d\r\n" % i for i in range(200)))
        except OSError:
            pass  # the server may close while we are still writing
        lines = []
        try:
            lines = c.wait_closed()
        except (ConnectionResetError, ConnectionClosed):
            pass
        self.assertTrue(all(l.startswith(b"-ERR") for l in lines), lines)
        self.assertLessEqual(len(lines), self.LIMIT + 1, "server answered past max_bad_commands")
        self.assert_server_healthy()

    def test_random_binary_junk(self):
        rng = random.Random(110)
        junk = bytes(rng.randrange(256) for _ in range(65536))
        for _ in range(3):
            c = self.server.connect()
            try:
                c.send(junk)
                c.wait_closed()
            except (OSError, ConnectionClosed):
                pass
            finally:
                c.close()
        self.assert_server_healthy()


class Concurrency(ServerTestCase):
    """Several users at once on two event-loop threads: every session sees its own mail."""

    users = {f"user{i}": f"password {i}" for i in range(8)}

    def test_parallel_sessions(self):
        for i, user in enumerate(self.users):
            for _, data in fixtures.small_fixtures()[: 2 + i % 4]:
                self.server.add_message(user, data)
        failures = []

        def session(user, rounds):
            try:
                for _ in range(rounds):
                    c = self.server.login(user)
                    try:
                        stat = c.cmd("STAT")
                        n = int(stat.split()[1])
                        total = 0
                        for k in range(1, n + 1):
                            if not c.cmd(f"RETR {k}").startswith(b"+OK"):
                                failures.append((user, "RETR", k))
                            total += len(c.read_multiline())
                        if stat != b"+OK %d %d" % (n, total):
                            failures.append((user, stat, total))
                        c.cmd("QUIT")
                        c.wait_closed()
                    finally:
                        c.close()
            except Exception as e:  # reported below, in the main thread
                failures.append((user, repr(e)))

        threads = [threading.Thread(target=session, args=(u, 5)) for u in self.users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "sessions hung")
        self.assertEqual(failures, [])
        self.assertTrue(self.server.alive())

    def test_login_race_for_one_maildrop(self):
        # Many connections log in as the same user at once: exactly one wins the lock.
        self.server.add_message("user0", fixtures.NORMAL)
        conns = [self.server.connect() for _ in range(8)]
        for c in conns:
            self.addCleanup(c.close)
            self.assertOk(c.cmd("USER user0"))
        for c in conns:
            c.send(b"PASS password 0\r\n")
        answers = [c.read_line() for c in conns]
        self.assertEqual(sum(a.startswith(b"+OK") for a in answers), 1, answers)
        self.assertTrue(all(a.startswith(b"+OK") or a.startswith(b"-ERR [IN-USE]")
                            for a in answers), answers)


class HostileUserNames(unittest.TestCase):
    """User names that could escape the mail root must never reach the file system."""

    NAMES = [b"../../etc", b"a/b", b"..", b"../alice", b"alice/..", b"/etc/passwd", b".",
             b"x@..", b"..@example.org", b"al\x01ice", b"alice\x7f", b"al\tice",
             b"alice\x1b[2J", b"a" * 300, b"alice:1000", b"%2e%2e"]

    def setUp(self):
        require_postern(self)

    def assertOk(self, line, what=""):
        self.assertTrue(line.startswith(b"+OK"), f"{what}: expected +OK, got {line!r}")

    def check_file_system(self, fixture, before):
        """Nothing new anywhere in the fixture's tree, except alice's own maildir."""
        new = sorted(snapshot_tree(fixture.dir) - before)
        allowed = os.path.relpath(fixture.maildir("alice"), fixture.dir)
        unexpected = [p for p in new if p != allowed and not p.startswith(allowed + os.sep)]
        self.assertEqual(unexpected, [], "paths created for refused user names")

    def try_names(self, fixture, names):
        for name in names:
            c = fixture.connect()
            try:
                r = c.cmd(b"USER " + name)
                if r.startswith(b"+OK"):
                    r = c.cmd(b"PASS x")
                self.assertTrue(r.startswith(b"-ERR"), f"USER {name!r}: {r!r}")
                # The session survives a refused name.
                self.assertOk(c.cmd("CAPA"), f"CAPA after USER {name!r}")
                c.read_multiline()
                self.assertOk(c.cmd("QUIT"))
            finally:
                c.close()

    def test_traversal_names_refused(self):
        fixture = ServerFixture()
        self.addCleanup(fixture.cleanup)
        fixture.write_config()
        before = snapshot_tree(fixture.dir)
        fixture.start(server={"max_bad_commands": 100})
        self.try_names(fixture, self.NAMES)
        c = fixture.login("alice")  # a normal login still works, and creates only alice's maildir
        self.assertOk(c.cmd("QUIT"))
        c.close()
        self.check_file_system(fixture, before)
        self.assertTrue(fixture.alive())

    def test_traversal_names_refused_even_when_in_passwd_file(self):
        # Someone put such names in the passwd-file; logging in with the right password still
        # must not create anything. (Refusing to start over such a file is acceptable too.)
        evil = [n for n in self.NAMES if b":" not in n and n != b"%2e%2e"]
        fixture = ServerFixture(maildir_template="%d/%n")
        with open(fixture.passwd_file, "a", encoding="utf-8", errors="surrogateescape") as f:
            for name in evil:
                f.write(fixture.passwd_line(os.fsdecode(name), "x"))
        self.addCleanup(fixture.cleanup)
        fixture.write_config()
        before = snapshot_tree(fixture.dir)
        try:
            fixture.start(server={"max_bad_commands": 100})
        except AssertionError as e:
            self.assertFalse(fixture.alive())
            self.assertIn(fixture.passwd_file, str(e), "a refusal to start must name the file")
            self.check_file_system(fixture, before)
            return
        self.try_names(fixture, evil)
        self.check_file_system(fixture, before)
        self.assertTrue(fixture.alive())


class DroppedConnections(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.server.add_message("alice", fixtures.NORMAL)
        self.server.add_message("alice", fixtures.big())

    def test_drop_in_the_middle_of_a_command(self):
        for data in (b"RET", b"USER ali", b"USER alice\r\nPASS secr", b"CAPA\r", b"X" * 5000):
            for rst in (False, True):
                c = self.server.connect()
                c.send(data)
                c.abort() if rst else c.close()
        self.assert_server_healthy()

    def test_drop_during_a_big_retr(self):
        for rst in (False, True, False):
            c = self.server.login("alice")
            big_n = 1 if int(c.cmd("LIST 1").split()[2]) > 1000 else 2
            self.assertOk(c.cmd("DELE 1" if big_n == 2 else "DELE 2"))
            c.send(f"RETR {big_n}\r\n")
            c.read_line()
            c.sock.recv(1000)  # the server is now in the middle of sending 5 MB
            c.abort() if rst else c.close()
        c = self.server.login("alice")  # waits out [IN-USE] until the drop is noticed
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("STAT").startswith(b"+OK 2 "), "a dropped session deleted mail")
        self.assertEqual(len(self.server.message_files("alice")), 2)
        self.assertOk(c.cmd("QUIT"))
        c.wait_closed()
        self.assert_server_healthy()

    def test_client_that_never_reads(self):
        # A client pipelines RETRs of the big message and never reads: the server must not
        # block other sessions (back-pressure stays inside that one connection).
        hog = self.server.login("alice")
        self.addCleanup(hog.close)
        hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            hog.sock.settimeout(5)
            hog.send(b"RETR 1\r\nRETR 2\r\n" * 20)
        except OSError:
            pass
        other = self.server.login("bob")
        self.addCleanup(other.close)
        self.assertOk(other.cmd("STAT"))
        self.assertOk(other.cmd("QUIT"))
        hog.abort()
        self.assert_server_healthy()


if __name__ == "__main__":
    unittest.main()
