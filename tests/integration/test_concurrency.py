"""The real server driven hard from many threads at once: 4 event-loop threads and the blocking
pool shared by parallel POP3 sessions (USER/PASS, AUTH PLAIN and LOGIN, STLS, wrong passwords,
RETR, DELE, dropped connections) for the same and different users, concurrent LMTP deliveries,
certificate reloads (SIGHUP), a password changed while its user keeps logging in,
`postern fetch -j 4`, and SIGTERM in the middle of all of it.

What must hold: every reply is the right one, every message is intact, nothing is lost and
nothing deleted without an acknowledged QUIT. scripts/test also runs this module (label
"concurrency") on a ThreadSanitizer build; the fixture then fails the test on any TSan report.
"""

import base64
import os
import random
import shutil
import signal
import subprocess
import tempfile
import textwrap
import threading
import time
import traceback
import unittest

from postern_harness import (ConnectionClosed, LmtpLine, Pop3Line, ServerFixture,
                             TestCertificates, postern_bin, require_postern, tls_config_text,
                             wire_form)

HAMMER_USERS = [f"hammer{i}" for i in range(6)]
FETCH_USERS = [f"fetch{i}" for i in range(4)]
USERS = {name: f"{name}-secret" for name in HAMMER_USERS + FETCH_USERS + ["changer", "carol"]}
SENDER = "relay@example.net"
DEADLINE = 120.0  # bound on any wait for a free maildrop; never reached on a healthy server


def make_message(mid, size):
    """A message whose every line names it: a mixed-up or truncated copy cannot pass as it."""
    head = f"Subject: {mid}\nMessage-Id: <{mid}@concurrency.test>\n\n.starts with a dot\n"
    out = bytearray(head.encode())
    i = 0
    while len(out) < size:
        out += f"{i:06d} {mid} {'x' * (i % 50)}\n".encode()
        i += 1
    return bytes(out)


def subject_of(message):
    for line in message.split(b"\r\n"):
        if line.startswith(b"Subject: "):
            return line[len(b"Subject: "):].decode()
        if not line:
            break
    raise AssertionError(f"no Subject in {message[:200]!r}")


class Failures:
    """Problems seen on worker threads, reported by the main thread (a failed assertion on
    another thread would otherwise vanish)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, text):
        with self.lock:
            self.items.append(text)

    def run(self, fn, *args):
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - every failure is reported, with its traceback
            self.add(traceback.format_exc())

    def check(self, test):
        with self.lock:
            items = list(self.items)
        test.assertEqual(items, [], "\n".join(items[:5]))


def run_threads(targets, failures, timeout=600):
    threads = [threading.Thread(target=failures.run, args=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        if t.is_alive():
            failures.add(f"thread {t.name} still running after {timeout}s")


class Concurrency(unittest.TestCase):

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture(users=USERS)
        self.addCleanup(self.server.cleanup)
        self.certs = TestCertificates(os.path.join(self.server.dir, "tls"))
        self.cert, self.key = self.certs.issue("server")
        self.server.start(server={"threads": 4}, listen={"tls": "starttls"}, lmtp=True,
                          extra=tls_config_text(self.cert, self.key))
        self.server.wait_for_log(r"listening on 127\.0\.0\.1:\d+ protocol=lmtp")
        self.failures = Failures()

    # -- clients --------------------------------------------------------------------------------

    def open_session(self, user, password, how="pass", source=None):
        """A client logged in as user, waiting out [IN-USE] (another thread holds the maildrop).
        how: "pass" (USER/PASS), "plain" (AUTH PLAIN), "login" (AUTH LOGIN) or "stls" (STLS,
        then USER/PASS)."""
        deadline = time.monotonic() + DEADLINE
        while True:
            c = Pop3Line(self.server.port, source=source)
            c.read_greeting()
            if how == "stls":
                r = c.cmd("STLS")
                if not r.startswith(b"+OK"):
                    raise AssertionError(f"STLS refused: {r!r}")
                c.sock = self.certs.client_context().wrap_socket(c.sock,
                                                                 server_hostname="localhost")
            r = self.authenticate(c, user, password, how)
            if r.startswith(b"+OK"):
                return c
            c.close()
            if b"[IN-USE]" not in r or time.monotonic() > deadline:
                raise AssertionError(f"login as {user} ({how}) failed: {r!r}")
            time.sleep(0.02)

    @staticmethod
    def authenticate(c, user, password, how):
        """One login attempt on c; returns the final status line."""
        if how == "plain":
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            return c.cmd(f"AUTH PLAIN {token}")
        if how == "login":  # two continuation steps, each one on the blocking pool
            for step in ("AUTH LOGIN", base64.b64encode(user.encode()).decode()):
                r = c.cmd(step)
                if not r.startswith(b"+ "):
                    return r
            return c.cmd(base64.b64encode(password.encode()).decode())
        return c.login(user, password)

    def maildrop(self, user):
        """{subject: message} of everything in user's maildrop, read in a session that deletes
        nothing."""
        c = self.open_session(user, USERS[user])
        try:
            count = int(c.cmd("STAT").split()[1])
            out = {}
            for i in range(1, count + 1):
                r = c.cmd(f"RETR {i}")
                self.assertTrue(r.startswith(b"+OK"), r)
                message = c.read_multiline()
                out[subject_of(message)] = message
            self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))
            return out
        finally:
            c.close()

    # -- the tests ------------------------------------------------------------------------------

    def test_parallel_sessions_deliveries_and_reloads(self):
        originals = {}  # subject -> the message as written
        expected = {u: set() for u in HAMMER_USERS}
        for u in HAMMER_USERS:
            for k, size in enumerate((300, 2_000, 30_000, 300_000, 700, 5_000)):
                mid = f"init-{u}-{k}"
                originals[mid] = make_message(mid, size)
                self.server.add_message(u, originals[mid])
                expected[u].add(mid)
        lock = threading.Lock()
        deleted = {u: set() for u in HAMMER_USERS}  # by an acknowledged QUIT
        delivered = {u: set() for u in HAMMER_USERS}
        stop_reloading = threading.Event()

        def check_message(mid, message):
            with lock:
                original = originals.get(mid)
            if original is None:
                raise AssertionError(f"a message nobody sent: {mid}")
            # LMTP deliveries carry Return-Path and Delivered-To in front of the original.
            if not message.endswith(wire_form(original)):
                raise AssertionError(f"{mid} arrived changed: {message[:300]!r}")

        def pop3_worker(t):
            rng = random.Random(t)
            source = f"127.0.0.{2 + t % 6}"
            for r in range(16):
                user = HAMMER_USERS[(t + r) % len(HAMMER_USERS)]
                kind = (t + r) % 5
                if kind == 0:  # a wrong password: the full hash, the throttle, a clean -ERR
                    c = Pop3Line(self.server.port, source=source)
                    try:
                        c.read_greeting()
                        how = "plain" if r % 2 else "pass"
                        reply = self.authenticate(c, user, "not-the-password", how)
                        if not reply.startswith(b"-ERR [AUTH]"):
                            raise AssertionError(f"wrong password for {user}: {reply!r}")
                        c.cmd("QUIT")
                    finally:
                        c.close()
                    continue
                how = {1: "plain", 2: "stls", 3: "login"}.get(kind, "pass")
                c = self.open_session(user, USERS[user], how=how, source=source)
                try:
                    stat = c.cmd("STAT")
                    count = int(stat.split()[1])
                    if not c.cmd("UIDL").startswith(b"+OK"):
                        raise AssertionError("UIDL failed")
                    c.read_multiline()
                    if not c.cmd("LIST").startswith(b"+OK"):
                        raise AssertionError("LIST failed")
                    c.read_multiline()
                    if count == 0:
                        c.cmd("QUIT")
                        continue
                    n = rng.randint(1, count)
                    reply = c.cmd(f"RETR {n}")
                    if not reply.startswith(b"+OK"):
                        raise AssertionError(f"RETR {n} of {user}: {reply!r}")
                    message = c.read_multiline()
                    mid = subject_of(message)
                    check_message(mid, message)
                    if not c.cmd(f"TOP {n} 0").startswith(b"+OK"):
                        raise AssertionError("TOP failed")
                    c.read_multiline()
                    if r % 4 == 3:
                        # Gone without QUIT, mid-command: nothing may be deleted.
                        c.cmd(f"DELE {n}")
                        c.send(f"RETR {rng.randint(1, count)}\r\n")
                        c.abort()
                        continue
                    dele = r % 2 == 0
                    if dele and not c.cmd(f"DELE {n}").startswith(b"+OK"):
                        raise AssertionError(f"DELE {n} of {user} refused")
                    if not c.cmd("QUIT").startswith(b"+OK"):
                        raise AssertionError("QUIT failed")
                    if dele:
                        with lock:
                            deleted[user].add(mid)
                finally:
                    c.close()

        def lmtp_worker(t):
            rng = random.Random(100 + t)
            for k in range(16):
                recipients = rng.sample(HAMMER_USERS, rng.randint(1, 3))
                mid = f"lmtp-{t}-{k}"
                message = make_message(mid, rng.choice((400, 9_000, 120_000)))
                with lock:
                    originals[mid] = message
                c = LmtpLine(port=self.server.lmtp_port)
                try:
                    c.read_greeting()
                    c.lhlo()
                    result = c.transaction(SENDER, recipients, message)
                    c.cmd("QUIT")
                finally:
                    c.close()
                if len(result["results"]) != len(recipients) or not all(
                        r.startswith(b"250") for r in result["results"]):
                    raise AssertionError(f"{mid} to {recipients}: {result}")
                with lock:
                    for u in recipients:
                        delivered[u].add(mid)

        def reloader():
            while not stop_reloading.wait(0.4):
                self.server.process.send_signal(signal.SIGHUP)

        reload_thread = threading.Thread(target=self.failures.run, args=(reloader,), daemon=True)
        reload_thread.start()
        run_threads([(pop3_worker, t) for t in range(24)] + [(lmtp_worker, t) for t in range(4)],
                    self.failures)
        stop_reloading.set()
        reload_thread.join(30)
        self.failures.check(self)
        self.server.wait_for_log(r"tls-reloaded")

        for u in HAMMER_USERS:
            want = (expected[u] | delivered[u]) - deleted[u]
            messages = self.maildrop(u)
            self.assertEqual(sorted(messages), sorted(want), f"maildrop of {u}")
            for mid, message in messages.items():
                check_message(mid, message)
        self.assertEqual(self.server.stop(), 0, "postern did not stop cleanly")

    def test_password_changed_while_its_user_logs_in(self):
        old, new = USERS["changer"], "changed-secret"
        stop = threading.Event()
        attempts = []  # (started, password, reply)
        lock = threading.Lock()

        def try_login(password):
            started = time.monotonic()
            c = Pop3Line(self.server.port)
            try:
                c.read_greeting()
                reply = c.login("changer", password)
                if reply.startswith(b"+OK"):
                    c.cmd("QUIT")
            finally:
                c.close()
            with lock:
                attempts.append((started, password, reply))
            return reply

        def client(t):
            i = 0
            while not stop.is_set():
                try_login(old if (i + t) % 2 == 0 else new)
                i += 1

        for _ in range(4):  # the old password is in the cache before anything changes
            self.assertTrue(try_login(old).startswith(b"+OK"))
        threads = [threading.Thread(target=self.failures.run, args=(client, t), daemon=True)
                   for t in range(4)]
        for t in threads:
            t.start()
        r = subprocess.run([postern_bin(), "user", "passwd", "changer", "--passwd-file",
                            self.server.passwd_file], input=new + "\n", capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The server re-reads the file within a second of a login; wait until one sees it.
        deadline = time.monotonic() + DEADLINE
        while True:
            reply = try_login(new)
            if reply.startswith(b"+OK"):
                seen = time.monotonic()
                break
            self.assertLess(time.monotonic(), deadline, f"the new password never worked: {reply}")
            time.sleep(0.1)
        time.sleep(1.0)  # logins keep racing each other after the change
        stop.set()
        for t in threads:
            t.join(60)
        self.failures.check(self)

        after = [(p, reply) for started, p, reply in attempts if started > seen]
        self.assertTrue(after, "no login attempt after the change was seen")
        for _started, _password, reply in attempts:
            # IN-USE: another thread's session of the same user held the maildrop.
            self.assertTrue(reply.startswith((b"+OK", b"-ERR [AUTH]", b"-ERR [IN-USE]")), reply)
        for password, reply in after:
            if password == old:
                self.assertTrue(reply.startswith(b"-ERR [AUTH]"),
                                f"the old password still worked after the change: {reply!r}")
            else:
                self.assertTrue(reply.startswith((b"+OK", b"-ERR [IN-USE]")),
                                f"the new password failed after the change: {reply!r}")
        self.assertEqual(self.server.stop(), 0, "postern did not stop cleanly")

    def test_parallel_fetch_accounts(self):
        sent = {}
        for u in FETCH_USERS:
            sent[u] = []
            for k in range(8):
                message = make_message(f"{u}-{k}", 500 + 7_000 * k)
                self.server.add_message(u, message)
                sent[u].append(message)
        work = tempfile.mkdtemp(prefix="postern-concurrency-")
        self.addCleanup(shutil.rmtree, work, True)
        config = os.path.join(work, "fetch.toml")
        with open(config, "w") as f:
            for i, u in enumerate(FETCH_USERS):
                password_file = os.path.join(work, f"{u}.pw")
                with open(password_file, "w") as pw:
                    pw.write(USERS[u] + "\n")
                os.chmod(password_file, 0o600)
                f.write(textwrap.dedent(f"""\
                    [[account]]
                    name = "{u}"
                    host = "127.0.0.1"
                    port = {self.server.port}
                    tls = "starttls"
                    tls_ca_file = "{self.certs.ca_cert}"
                    user = "{u}"
                    password_file = "{password_file}"
                    mode = "{'delete' if i % 2 == 0 else 'keep'}"
                    maildir = "{os.path.join(work, u)}"

                    """))
        env = dict(os.environ, HOME=work)
        for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "POSTERN_PASSWORD"):
            env.pop(name, None)
        r = subprocess.run([postern_bin(), "fetch", "--config", config, "-j", "4"],
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                           timeout=600)
        self.assertNotIn("WARNING: ThreadSanitizer", r.stderr, r.stderr[:8000])
        self.assertEqual(r.returncode, 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr[-4000:]}")
        for i, u in enumerate(FETCH_USERS):
            got = []
            for sub in ("new", "cur"):
                d = os.path.join(work, u, sub)
                for name in os.listdir(d) if os.path.isdir(d) else []:
                    with open(os.path.join(d, name), "rb") as f:
                        got.append(f.read())
            self.assertEqual(sorted(got), sorted(sent[u]), f"fetched from {u}")
            self.assertEqual(len(self.server.message_files(u)), 0 if i % 2 == 0 else 8, u)
        self.assertEqual(self.server.stop(), 0, "postern did not stop cleanly")

    def test_sigterm_in_the_middle_of_everything(self):
        big = make_message("big", 3_000_000)
        for u in HAMMER_USERS:
            self.server.add_message(u, big)
            self.server.add_message(u, make_message(f"small-{u}", 500))
        clients = []
        # Sessions stopped in every state: mid-RETR with a client that does not read, after
        # DELE without QUIT, idle after login, and before login.
        for i, u in enumerate(HAMMER_USERS):
            c = self.open_session(u, USERS[u], how="stls" if i % 3 == 0 else "pass")
            if i % 3 == 1:
                c.cmd("DELE 2")
            c.send("RETR 1\r\n" if i % 2 == 0 else "NOOP\r\n")
            clients.append(c)
        for _ in range(4):
            c = Pop3Line(self.server.port)
            c.read_greeting()
            c.send("USER carol\r\n")
            clients.append(c)
        # LMTP transactions left mid-DATA: the message must not appear.
        for i in range(3):
            lmtp = LmtpLine(port=self.server.lmtp_port)
            lmtp.read_greeting()
            lmtp.lhlo()
            lmtp.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{HAMMER_USERS[i]}>\r\nDATA\r\n")
            lmtp.read_replies(3)
            lmtp.send(b"Subject: half\r\n\r\nhalf a message\r\n")
            clients.append(lmtp)
        # And work arriving while the signal does.
        busy = threading.Event()

        def keep_logging_in():
            while not busy.is_set():
                try:
                    c = Pop3Line(self.server.port)
                except OSError:
                    return  # the server is gone: that is the point
                try:
                    c.read_greeting()
                    c.login("carol", USERS["carol"])
                except (OSError, ConnectionClosed):
                    return
                finally:
                    c.close()

        churn = [threading.Thread(target=keep_logging_in, daemon=True) for _ in range(4)]
        for t in churn:
            t.start()
        time.sleep(0.5)
        self.assertEqual(self.server.stop(), 0, "postern did not exit cleanly on SIGTERM:\n"
                         + self.server.log_text()[-4000:])
        busy.set()
        for t in churn:
            t.join(30)
        for c in clients:
            c.close()

        self.server.start(server={"threads": 4}, listen={"tls": "starttls"}, lmtp=True,
                          extra=tls_config_text(self.cert, self.key))
        for u in HAMMER_USERS:
            messages = self.maildrop(u)
            self.assertEqual(sorted(messages), ["big", f"small-{u}"], f"maildrop of {u}")
            self.assertTrue(messages["big"] == wire_form(big), f"the big message of {u} changed")


if __name__ == "__main__":
    unittest.main()
