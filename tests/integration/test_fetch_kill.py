"""The kill test of postern fetch: SIGKILL at random moments must never lose or duplicate mail.

A maildrop of 300 messages (varied sizes, a few of 100 KB, dot lines, no final newline, "From "
lines) on `postern serve`. `postern fetch` runs in delete and in keep mode, into a Maildir and
into an mbox, and is killed with SIGKILL at random moments; it is rerun until a run finishes.
Then every message must be in the local store exactly once (the multiset of stored contents
equals the multiset of lf_form(original)), and the server must hold exactly the messages that
are not delivered (delete mode: none; keep mode: all). A last variant kills the SERVER instead
and restarts it.

Randomness: one seed (printed; set POSTERN_KILL_SEED to replay it) seeds a random.Random per
variant. Kill delays: the duration D of one uninterrupted run of the whole maildrop is measured
first (on another user); half the delays are drawn from [0, D] (any moment, including the DELE
and QUIT at the end of a run), half from [0, D/8] (so a run is stopped many times on its way
and the start-up, journal recovery and login are hit often). A variant runs rounds (a fresh
maildrop and a fresh local store each) until it has its number of kills. The delays follow the
measured duration, so a slow machine or an ASan build gets the same coverage (it takes a little
over a minute under ASan). POSTERN_KILL_MESSAGES changes the size of the maildrop.

With a Maildir the invariant is also checked after every kill, while a run is dead: no message
is stored twice, and every message is on the server or stored (none is ever lost). An mbox may
end in a torn append until the next run settles the journal, so it is checked at the end of
each round.
"""

import collections
import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import test_fetch_smoke as smoke
from postern_harness import PortTaken, ServerFixture, lf_form, postern_bin, require_postern

PASSWORD = "secret pass with spaces"  # alice's (and the fixture's default) password
MESSAGES = int(os.environ.get("POSTERN_KILL_MESSAGES") or 300)
SEED = int(os.environ.get("POSTERN_KILL_SEED") or random.SystemRandom().randrange(1, 10**9))
# Kills per variant; the sum is the "at least 100".
CLIENT_KILLS = 30  # x4 variants
SERVER_KILLS = 20  # x2 variants
MAX_ROUNDS = 60
RUN_TIMEOUT = 120

KILLS = collections.Counter()


def make_messages(count, seed):
    """`count` distinct messages in LF form; sizes mostly 200 B..20 KB, every 60th one 100 KB,
    dot lines and "From " lines throughout, some without a final newline, some with CRLF."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        size = 100 * 1024 if i % 60 == 7 else int(rng.expovariate(1 / 4000)) % 20000 + 200
        head = (f"From: Sender {i} <s{i}@example.com>\n"
                f"To: alice@example.org\n"
                f"Subject: kill test message {i}\n"
                f"Message-ID: <kill-{i}-{seed}@example.com>\n\n").encode()
        body = bytearray()
        while len(body) < size:
            roll = rng.random()
            if roll < 0.03:
                line = b"."
            elif roll < 0.05:
                line = b".."
            elif roll < 0.07:
                line = b"From here on"
            elif roll < 0.08:
                line = b""
            else:
                line = bytes(rng.choice(b"abcdefghij klmnop.,") for _ in range(rng.randint(1, 90)))
                if roll < 0.12:
                    line = b"." + line
            body += line + b"\n"
        data = head + bytes(body)
        if i % 17 == 3:
            data = data.rstrip(b"\n")  # no final newline
        if i % 23 == 5:
            data = data.replace(b"\n", b"\r\n")
        out.append(data)
    return out


def fill_maildrop(maildir, messages):
    """Writes the messages into new/ quickly (no fsync: nothing here survives a machine crash,
    and the server is started or told about nothing)."""
    shutil.rmtree(maildir, ignore_errors=True)
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub))
    for i, data in enumerate(messages):
        name = f"{1700000000 + i}.M{i:06d}P1.kill-test"
        with open(os.path.join(maildir, "new", name), "wb") as f:
            f.write(data)


def read_files(root):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(root, sub)
        if os.path.isdir(d):
            for name in os.listdir(d):
                # A server session dropped by a kill may still be moving new/ to cur/: a file
                # gone from new/ is then found in cur/, which is listed after.
                try:
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
                except FileNotFoundError:
                    pass
    return out


class FetchKill(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        print(f"\nkill test seed {SEED} (replay with POSTERN_KILL_SEED={SEED}), "
              f"{MESSAGES} messages", file=sys.stderr, flush=True)
        cls.messages = make_messages(MESSAGES, SEED)
        cls.expected = collections.Counter(lf_form(m) for m in cls.messages)
        # Originals as the server stores them mapped to their local form.
        cls.local_of = {m: lf_form(m) for m in cls.messages}

    @classmethod
    def tearDownClass(cls):
        total = sum(KILLS.values())
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(KILLS.items()))
        print(f"\nkill test summary: {total} kills (seed {SEED}; {detail})", file=sys.stderr,
              flush=True)

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture()
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.work = tempfile.mkdtemp(prefix="postern-fetch-kill-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.env = dict(os.environ, HOME=self.work, POSTERN_PASSWORD=PASSWORD)
        self.env.pop("XDG_STATE_HOME", None)
        self.procs = []
        self.addCleanup(self._reap)

    def _reap(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()  # by PID: only processes this test started
                p.wait()

    # -- running ----------------------------------------------------------------------------------

    def command(self, user, mode, dest, store, state):
        cmd = [postern_bin(), "fetch", f"pop3://{user}@127.0.0.1:{self.server.port}", "--no-tls",
               "--state-dir", state, "--timeout", "30", "-q", f"--{mode}"]
        cmd += ["--to", store] if dest == "maildir" else ["--mbox", store]
        return cmd

    def spawn(self, cmd):
        p = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.procs.append(p)
        return p

    def finish(self, p, codes=(0,)):
        """Waits for a run; returns its exit code. 75 with [IN-USE] is always accepted: the
        server has not yet noticed that the session of a killed run is gone, and a rerun is
        what the exit code asks for."""
        try:
            out, err = p.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail(f"postern fetch hung for {RUN_TIMEOUT}s; stderr:\n{err.decode()[-3000:]}")
        if p.returncode == 75 and b"[IN-USE]" in err:
            time.sleep(0.05)
            return 75
        self.assertIn(p.returncode, codes,
                      f"postern fetch exited with {p.returncode}; stdout:\n{out.decode()[-2000:]}\n"
                      f"stderr:\n{err.decode()[-3000:]}\nserver log:\n"
                      f"{self.server.log_text()[-3000:]}")
        return p.returncode

    def calibrate(self, dest):
        """D: seconds one uninterrupted run takes to fetch the whole maildrop (user bob)."""
        fill_maildrop(self.server.maildir("bob"), self.messages)
        self.env_bob = dict(self.env, POSTERN_PASSWORD=self.server.users["bob"])
        store = os.path.join(self.work, "calibrate-" + dest)
        cmd = self.command("bob", "keep", dest, store, os.path.join(self.work, "calibrate-state"))
        started = time.monotonic()
        p = subprocess.Popen(cmd, env=self.env_bob, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(p)
        self.assertEqual(self.finish(p), 0)
        return max(time.monotonic() - started, 0.05)

    def delay(self, rng, duration):
        return rng.uniform(0, duration) if rng.random() < 0.5 else rng.uniform(0, duration / 8)

    # -- checks -----------------------------------------------------------------------------------

    def stored(self, dest, store):
        if dest == "maildir":
            return collections.Counter(read_files(store))
        if not os.path.exists(store):
            return collections.Counter()
        return collections.Counter(smoke.read_mboxrd(store))

    def on_server(self):
        """What the server holds, read under its maildrop lock (flock on postern.lock): right
        after a kill, the server's half of the dead session may still be moving new/ to cur/,
        and a listing of new/ then cur/ taken meanwhile would miss or double-count a file."""
        maildir = self.server.maildir("alice")
        os.makedirs(maildir, exist_ok=True)
        with open(os.path.join(maildir, "postern.lock"), "a") as lock:
            deadline = time.monotonic() + 60
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise AssertionError("the server kept the maildrop locked for 60 s")
                    time.sleep(0.02)
            try:
                files = read_files(maildir)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return collections.Counter(self.local_of[m] for m in files)

    def check_keep_mode_server(self, mode, where):
        if mode == "keep":
            self.assertEqual(self.on_server(), self.expected, f"{where}: keep mode lost mail")

    def check_never_lost_never_twice(self, store, where):
        stored = collections.Counter(read_files(store))
        twice = [m[:80] for m, n in stored.items() if n > 1]
        self.assertEqual(twice, [], f"{where}: stored more than once")
        unknown = [m[:80] for m in stored if m not in self.expected]
        self.assertEqual(unknown, [], f"{where}: stored content that was never sent")
        present = self.on_server()
        lost = [m[:80] for m in self.expected if m not in stored and m not in present]
        self.assertEqual(lost, [], f"{where}: neither on the server nor stored")

    def check_finished(self, mode, dest, store, state, where):
        stored = self.stored(dest, store)
        missing = self.expected - stored
        extra = stored - self.expected
        self.assertEqual((len(missing), len(extra)), (0, 0),
                         f"{where}: {len(missing)} missing, {len(extra)} extra (duplicates or "
                         f"damaged); e.g. missing {[m[:60] for m in missing][:3]} "
                         f"extra {[m[:60] for m in extra][:3]}")
        left = self.on_server()
        if mode == "delete":
            self.assertEqual(sum(left.values()), 0, f"{where}: delete mode left mail on the server")
        else:
            self.assertEqual(left, self.expected, f"{where}: keep mode changed the server")
            with open(os.path.join(state, "uidls"), "rb") as f:
                self.assertEqual(f.readline(), b"postern-fetch-uidls 1\n")
                self.assertEqual(len(f.readlines()), MESSAGES, f"{where}: uidls")
        if dest == "mbox":
            self.assertFalse(os.path.exists(store + ".lock"), f"{where}: a dotlock was left")
        else:
            # Every file in tmp/ had its intent journaled first, so a finished run has settled
            # (removed) what killed runs left there.
            self.assertEqual(os.listdir(os.path.join(store, "tmp")), [], f"{where}: tmp/")
        spool = os.path.join(state, "spool")
        self.assertEqual(os.listdir(spool) if os.path.isdir(spool) else [], [],
                         f"{where}: spool")
        with open(os.path.join(state, "journal"), "rb") as f:
            self.assertEqual(f.read(), b"", f"{where}: journal not settled")

    # -- variants ---------------------------------------------------------------------------------

    def kill_client(self, mode, dest):
        variant = f"client-{mode}-{dest}"
        rng = random.Random(f"{SEED}-{variant}")
        duration = self.calibrate(dest)
        kills = rounds = runs = 0
        while kills < CLIENT_KILLS:
            rounds += 1
            self.assertLessEqual(rounds, MAX_ROUNDS, f"{variant}: too many rounds")
            fill_maildrop(self.server.maildir("alice"), self.messages)
            store = os.path.join(self.work, f"store-{rounds}")
            state = os.path.join(self.work, f"state-{rounds}")
            cmd = self.command("alice", mode, dest, store, state)
            while True:
                runs += 1
                self.assertLess(runs, 20 * CLIENT_KILLS, f"{variant}: too many runs")
                p = self.spawn(cmd)
                # Kill only while this round still needs kills: then one run finishes.
                if kills < CLIENT_KILLS:
                    try:
                        p.wait(timeout=self.delay(rng, duration))
                    except subprocess.TimeoutExpired:
                        p.send_signal(signal.SIGKILL)  # by PID
                        p.communicate()
                        kills += 1
                        where = f"{variant} seed {SEED} round {rounds} after kill {kills}"
                        self.check_keep_mode_server(mode, where)
                        if dest == "maildir":
                            self.check_never_lost_never_twice(store, where)
                        continue
                if self.finish(p) == 0:
                    break
            self.check_finished(mode, dest, store, state,
                                f"{variant} seed {SEED} round {rounds}")
        KILLS[variant] += kills
        print(f"\n{variant}: {kills} kills, {rounds} rounds, {runs} runs, one full run "
              f"{duration:.2f}s", file=sys.stderr, flush=True)

    def test_client_killed_delete_maildir(self):
        self.kill_client("delete", "maildir")

    def test_client_killed_keep_maildir(self):
        self.kill_client("keep", "maildir")

    def test_client_killed_delete_mbox(self):
        self.kill_client("delete", "mbox")

    def test_client_killed_keep_mbox(self):
        self.kill_client("keep", "mbox")

    def restart_server(self):
        for _attempt in range(50):  # the port is the same; a moment may pass before it is free
            try:
                self.server._spawn()
                return
            except PortTaken:
                time.sleep(0.1)
        self.fail("postern serve did not come back on its port")

    def kill_server(self, mode, dest):
        variant = f"server-{mode}-{dest}"
        rng = random.Random(f"{SEED}-{variant}")
        duration = self.calibrate(dest)
        kills = rounds = runs = 0
        while kills < SERVER_KILLS:
            rounds += 1
            self.assertLessEqual(rounds, MAX_ROUNDS, f"{variant}: too many rounds")
            fill_maildrop(self.server.maildir("alice"), self.messages)
            store = os.path.join(self.work, f"store-{rounds}")
            state = os.path.join(self.work, f"state-{rounds}")
            cmd = self.command("alice", mode, dest, store, state)
            while True:
                runs += 1
                self.assertLess(runs, 20 * SERVER_KILLS, f"{variant}: too many runs")
                p = self.spawn(cmd)
                if kills < SERVER_KILLS:
                    try:
                        p.wait(timeout=self.delay(rng, duration))
                    except subprocess.TimeoutExpired:
                        self.server.kill()  # SIGKILL by PID
                        kills += 1
                        # The client sees the connection drop: a temporary failure, or 0 when
                        # it had just finished.
                        self.finish(p, codes=(0, 1, 75))
                        self.restart_server()
                        where = f"{variant} seed {SEED} round {rounds} after kill {kills}"
                        self.check_keep_mode_server(mode, where)
                        if dest == "maildir":
                            self.check_never_lost_never_twice(store, where)
                        continue
                if self.finish(p) == 0:
                    break
            self.check_finished(mode, dest, store, state,
                                f"{variant} seed {SEED} round {rounds}")
        KILLS[variant] += kills
        print(f"\n{variant}: {kills} kills, {rounds} rounds, {runs} runs, one full run "
              f"{duration:.2f}s", file=sys.stderr, flush=True)

    def test_server_killed_delete_maildir(self):
        self.kill_server("delete", "maildir")

    def test_server_killed_keep_mbox(self):
        self.kill_server("keep", "mbox")


if __name__ == "__main__":
    unittest.main()
