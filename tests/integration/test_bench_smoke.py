"""postern-bench kept honest (issue 6): a tiny run of every scenario against a real `postern
serve` must verify everything with zero errors and exact totals; and against a fake POP3 server
that gets one thing wrong (a corrupted octet, no dot-stuffing, a wrong count or size) the tool
must fail with a non-zero status and say what was wrong. Correctness only, never timing.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest

import postern_harness as h

PASSWORD = "pw"
SESSION_MESSAGES = 20


def bench_bin():
    """$POSTERN_BENCH_BIN, or bench/postern-bench in the build tree of the postern under test."""
    path = os.environ.get("POSTERN_BENCH_BIN") or os.path.join(
        os.path.dirname(h.postern_bin()), "bench", "postern-bench")
    return os.path.abspath(path)


def require_bench(test):
    path = bench_bin()
    if not os.access(path, os.X_OK):
        test.fail(f"postern-bench not found at {path} (build the postern-bench target, or set "
                  "POSTERN_BENCH_BIN)")
    return path


def run_bench(args, stdin=None, timeout=h.PROCESS_TIMEOUT * 3):
    return subprocess.run([bench_bin()] + args + ["--host", "127.0.0.1", "--json"], input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def result_of(test, r):
    """The JSON line of a run that must have succeeded."""
    test.assertEqual(r.returncode, 0, f"postern-bench failed ({r.returncode}):\n{r.stderr}")
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    test.assertEqual(len(lines), 1, r.stdout)
    out = json.loads(lines[0])
    test.assertEqual(out["errors"], 0, out)
    test.assertTrue(out["valid"], out)
    return out


def write_fixture(root, mail_set, users, *extra):
    args = [bench_bin(), "fixture", "--dir", root, "--set", mail_set, *extra]
    for u in users:
        args += ["--user", u]
    subprocess.run(args, check=True, capture_output=True, timeout=h.PROCESS_TIMEOUT)


def maildrop_octets(maildir):
    """(count, STAT size) of a fixture maildrop, from the files: wire size = LF size + lines."""
    count = octets = 0
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            count += 1
            octets += len(h.wire_form(data))
    return count, octets


class BenchAgainstPostern(unittest.TestCase):
    """Every scenario, tiny, against the real server: zero errors and the right totals."""

    @classmethod
    def setUpClass(cls):
        cls.sessions = ["sess00001", "sess00002"]
        cls.idle = [f"idle{i:05d}" for i in range(1, 31)]
        cls.server = h.ServerFixture(users={})
        srv = cls.server
        try:
            crypt = subprocess.run(["openssl", "passwd", "-6", "-salt", "smoke", PASSWORD],
                                   capture_output=True, text=True, check=True).stdout.strip()
            plain_users = cls.sessions + cls.idle + ["large", "big", "lgp00001", "lgp00002"]
            lines = [f"{u}:{{PLAIN}}{PASSWORD}::::::" for u in plain_users]
            lines += [f"{u}:{{SHA512-CRYPT}}{crypt}::::::" for u in ("lgc00001", "lgc00002")]
            with open(srv.passwd_file, "w") as f:
                f.write("\n".join(lines) + "\n")
            if os.access(bench_bin(), os.X_OK):
                write_fixture(srv.mail_root, "session", cls.sessions)
                write_fixture(srv.mail_root, "idle", cls.idle)
                write_fixture(srv.mail_root, "large", ["large"], "--large-size", "1000000")
                write_fixture(srv.mail_root, "big", ["big"], "--big-count", "300")
            certs = h.TestCertificates(os.path.join(srv.dir, "certs"))
            cls.ca = certs.ca_cert
            cert, key = certs.issue("server")
            cls.tls_port = h.free_port()
            limits = ("[limits]\nconnections = 0\nconnections_per_address = 0\n"
                      "sessions_per_user = 0\n")
            if os.path.exists(h.postern_bin()):
                srv.start(extra=h.tls_config_text(cert, key, implicit_port=cls.tls_port) + limits)
        except Exception:
            srv.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def setUp(self):
        h.require_postern(self)
        require_bench(self)
        self.assertTrue(self.server.alive(), self.server.log_text())

    def users_args(self, users):
        return sum((["--user", u] for u in users), [])

    def test_sessions_plain_verify_every_message(self):
        out = result_of(self, run_bench(["sessions", "--port", str(self.server.port), "--clients",
                                         "2", "--count", "6", "--duration", "300"]
                                        + self.users_args(self.sessions)))
        count, octets = maildrop_octets(self.server.maildir("sess00001"))
        self.assertEqual(count, SESSION_MESSAGES)
        self.assertEqual(out["scenario"], "sessions")
        self.assertEqual(out["sessions"], 6)
        self.assertEqual(out["messages"], 6 * SESSION_MESSAGES)
        self.assertEqual(out["octets"], 6 * octets)

    def test_sessions_over_tls_with_resumption(self):
        out = result_of(self, run_bench(["sessions", "--port", str(self.tls_port), "--tls", "--ca",
                                         self.ca, "--resume", "--clients", "2", "--count", "4",
                                         "--duration", "300"] + self.users_args(self.sessions)))
        self.assertEqual(out["scenario"], "sessions-tls-resume")
        self.assertEqual(out["sessions"], 4)
        self.assertEqual(out["tls_handshakes"], 4)
        self.assertEqual(out["tls_resumed"], 2)  # every session but the first of each client
        self.assertTrue(out["certificate_verified"])

    def test_tls_with_another_ca_fails_verification(self):
        other = h.TestCertificates(os.path.join(self.server.dir, "other-ca"))
        r = run_bench(["sessions", "--port", str(self.tls_port), "--tls", "--ca", other.ca_cert,
                       "--clients", "1", "--count", "1", "--user", "sess00001"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("TLS handshake", r.stderr)

    def test_large_retr_and_raw_baseline(self):
        out = result_of(self, run_bench(["retr", "--port", str(self.server.port), "--user", "large",
                                         "--large-size", "1000000", "--repeat", "2",
                                         "--raw-baseline"]))
        _count, octets = maildrop_octets(self.server.maildir("large"))
        self.assertEqual(out["octets"], octets)
        self.assertEqual(out["retrieved"], 2)
        self.assertGreater(out["raw_mb_per_s"], 0)
        self.assertGreater(out["mb_per_s"], 0)

    def test_idle_connections_are_held_then_quit(self):
        p = subprocess.Popen([bench_bin(), "idle", "--host", "127.0.0.1", "--port",
                              str(self.server.port), "--json", "--prefix", "idle", "--users",
                              str(len(self.idle)), "--parallel", "8", "--hold", "120"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            ready = p.stdout.readline()
            self.assertEqual(ready.strip(), f"ready connections={len(self.idle)} errors=0")
            # While held, every one of them is a logged-in session on the server.
            c = self.server.connect()
            self.assertTrue(c.login("idle00001", PASSWORD).startswith(b"-ERR"),
                            "a second session of a held user must be refused: the maildrop is "
                            "locked by the held one")
            c.close()
            out, err = p.communicate("\n", timeout=h.PROCESS_TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        result = json.loads(out.splitlines()[-1])
        self.assertEqual(result["connections"], len(self.idle))
        self.assertEqual(result["quit"], len(self.idle))
        self.assertEqual(result["errors"], 0)

    def test_big_maildrop_stat_and_uidl(self):
        out = result_of(self, run_bench(["maildrop", "--port", str(self.server.port), "--user",
                                         "big", "--big-count", "300"]))
        count, octets = maildrop_octets(self.server.maildir("big"))
        self.assertEqual((out["messages"], out["octets"]), (300, octets))
        self.assertEqual(count, 300)
        self.assertGreater(out["seconds"], 0)

    def test_maildrop_count_mismatch_is_an_error(self):
        # The fixture holds 300; a tool told 301 must not accept the server's honest answer.
        r = run_bench(["maildrop", "--port", str(self.server.port), "--user", "big",
                       "--big-count", "301"])
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("STAT: the server says 300 messages", r.stderr)

    def test_logins_plain_and_crypt(self):
        for prefix in ("lgp", "lgc"):
            with self.subTest(prefix=prefix):
                out = result_of(self, run_bench(["logins", "--port", str(self.server.port),
                                                 "--prefix", prefix, "--users", "2", "--clients",
                                                 "2", "--count", "10", "--duration", "300"]))
                self.assertEqual(out["logins"], 10)

    def test_wrong_password_is_an_error(self):
        r = run_bench(["logins", "--port", str(self.server.port), "--user", "lgp00001",
                       "--password", "wrong", "--clients", "1", "--count", "1"])
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("PASS (user lgp00001): expected +OK, got \"-ERR", r.stderr)
        self.assertIn("no score", r.stderr)

    def test_unreachable_server_is_an_error(self):
        r = run_bench(["logins", "--port", str(h.free_port()), "--user", "lgp00001",
                       "--clients", "1", "--count", "1"])
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("connect", r.stderr)


# ---------------------------------------------------------------------------------------------
# A fake POP3 server that serves a fixture maildrop, faithfully or with one planted fault.


class FakePop3:
    """Serves one user's fixture messages (sorted by file name) on a loopback port, one
    connection at a time, with an optional fault: 'corrupt', 'no-stuffing', 'stat-count',
    'list-size', 'list-swap', 'uidl-duplicate', 'truncate'."""

    def __init__(self, maildir, fault=None):
        names = sorted(os.listdir(os.path.join(maildir, "new")))
        self.messages = []
        for name in names:
            with open(os.path.join(maildir, "new", name), "rb") as f:
                self.messages.append((name, h.wire_form(f.read())))
        self.fault = fault
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below (Linux)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(10)

    def _serve(self):
        for _ in range(10):  # bounded: the tests make one or two connections
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(h.SOCKET_TIMEOUT)
                try:
                    self._session(conn)
                except OSError:
                    pass

    def _sizes(self):
        sizes = [len(wire) for _name, wire in self.messages]
        if self.fault == "list-size":
            sizes[2] += 1
        if self.fault == "list-swap":
            sizes[2], sizes[3] = sizes[3], sizes[2]
        return sizes

    def _body(self, n):
        wire = self.messages[n - 1][1]
        if self.fault == "corrupt" and n == 3:
            at = len(wire) // 2
            while wire[at:at + 1] in (b"\r", b"\n", b"."):
                at += 1
            wire = wire[:at] + (b"#" if wire[at:at + 1] != b"#" else b"%") + wire[at + 1:]
        if self.fault == "no-stuffing":
            return wire + b".\r\n"
        if self.fault == "truncate" and n == 2:
            return h.dot_stuff(wire[:wire.rfind(b"\r\n", 0, len(wire) - 2) + 2])
        return h.dot_stuff(wire)

    def _session(self, conn):
        reader = conn.makefile("rb")
        conn.sendall(b"+OK fake POP3 ready\r\n")
        for _ in range(1000):
            line = reader.readline()
            if not line:
                return
            cmd, _, arg = line.strip().decode().partition(" ")
            cmd = cmd.upper()
            sizes = self._sizes()
            if cmd in ("USER", "PASS", "NOOP"):
                conn.sendall(b"+OK\r\n")
            elif cmd == "STAT":
                true_sizes = [len(wire) for _name, wire in self.messages]
                count = len(true_sizes) - (1 if self.fault == "stat-count" else 0)
                conn.sendall(f"+OK {count} {sum(true_sizes)}\r\n".encode())
            elif cmd == "LIST":
                body = "".join(f"{i} {s}\r\n" for i, s in enumerate(sizes, 1))
                conn.sendall(f"+OK\r\n{body}.\r\n".encode())
            elif cmd == "UIDL":
                uids = [name.split(".")[1] for name, _ in self.messages]
                if self.fault == "uidl-duplicate":
                    uids[5] = uids[4]
                body = "".join(f"{i} {u}\r\n" for i, u in enumerate(uids, 1))
                conn.sendall(f"+OK\r\n{body}.\r\n".encode())
            elif cmd == "RETR":
                n = int(arg)
                conn.sendall(f"+OK {sizes[n - 1]} octets\r\n".encode() + self._body(n))
            elif cmd == "QUIT":
                conn.sendall(b"+OK bye\r\n")
                return
            else:
                conn.sendall(b"-ERR unknown command\r\n")


class BenchCatchesBrokenServers(unittest.TestCase):
    """Each planted fault makes postern-bench exit 65 and name the problem."""

    def setUp(self):
        require_bench(self)
        self.dir = tempfile.mkdtemp(prefix="postern-bench-smoke-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        write_fixture(self.dir, "session", ["sess00001"])
        self.maildir = os.path.join(self.dir, "sess00001")

    def run_against(self, fault):
        fake = FakePop3(self.maildir, fault)
        self.addCleanup(fake.close)
        return run_bench(["sessions", "--port", str(fake.port), "--user", "sess00001", "--clients",
                          "1", "--count", "1", "--timeout", "10"])

    def assert_caught(self, fault, *phrases):
        r = self.run_against(fault)
        self.assertEqual(r.returncode, 65, f"fault {fault!r} not caught:\n{r.stdout}\n{r.stderr}")
        for phrase in phrases:
            self.assertIn(phrase, r.stderr)
        result = json.loads(r.stdout.splitlines()[-1])
        self.assertFalse(result["valid"])
        self.assertEqual(result["sessions"], 0)

    def test_faithful_fake_passes(self):
        # The control: without a fault the fake server is correct, so every failure below is
        # the planted fault's doing.
        result_of(self, self.run_against(None))

    def test_corrupted_octet(self):
        self.assert_caught("corrupt", "RETR 3 (sess00001 message 3): octet", "differs")

    def test_missing_dot_stuffing(self):
        self.assert_caught("no-stuffing", "starts with '.' but was not dot-stuffed")

    def test_wrong_stat_count(self):
        self.assert_caught("stat-count", "STAT: the server says 19 messages")

    def test_wrong_list_size(self):
        self.assert_caught("list-size", "LIST: 20 messages of")

    def test_list_sizes_of_the_wrong_messages(self):
        # The sum is right, but sizes 3 and 4 are swapped: only the per-message check sees it.
        self.assert_caught("list-swap", "LIST 3 said")

    def test_duplicate_uidl(self):
        self.assert_caught("uidl-duplicate", "UIDL 6:", "was used before")

    def test_truncated_message(self):
        self.assert_caught("truncate", "RETR 2 (sess00001 message 2)", "message truncated")


if __name__ == "__main__":
    unittest.main()
