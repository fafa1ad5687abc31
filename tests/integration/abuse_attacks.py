"""The abuse attacks of issue 7, each run against a real `postern serve` while the server's
memory is sampled and a normal client keeps using the server.

Shared by test_abuse.py (which fails on any finding) and bench/abuse_table.py (which prints the
measurements as a table). run_attack() starts a server for one attack, warms it up with one
normal session, then runs the attack while
  - a MemorySampler reads the server's RSS and PSS from /proc/PID/smaps_rollup (and the kernel's
    exact peak, VmHWM, reset just before the attack),
  - a NormalClient (poplib, from 127.0.0.1: login, STAT, RETR 1, QUIT) keeps doing sessions and
    records how long each took,
and afterwards checks that the server is alive, that every maildrop the attack touched is
intact, and that SIGTERM ends it with status 0. Every problem is collected in Result.failures:
the bench prints them, the test fails on them. Durations are measured, never asserted.

An attack raises AssertionError for wrong server behaviour and SkipAttack when this machine
cannot host it (no tmpfs mount, too little disk).
"""

import abc
import base64
import hashlib
import os
import poplib
import re
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import threading
import time

import fixtures
from postern_harness import (CRLF, DEFAULT_USERS, PROCESS_TIMEOUT, ConnectionClosed, Pop3Line,
                             ServerFixture, parse_multiline_pairs, run_postern, wire_form)

MiB = 1024 * 1024
GiB = 1024 * MiB

# Under ASan+UBSan (a Debug build) every allocation carries redzones and freed memory sits in a
# quarantine of up to 256 MiB, so RSS says little about the program; the bounds that show that
# memory does not scale with the attack are the ones of the optimised build. Under sanitizers a
# bound only catches gross growth (a copy of a 2 GB message, a buffer per pipelined command).
SANITIZED = os.environ.get("POSTERN_SANITIZED", "0").upper() in ("1", "ON", "TRUE", "YES")

NORMAL_USER = "norma"
NORMAL_PASSWORD = "normal client password"
NORMAL_SOURCE = "127.0.0.1"
# Each session is served "at all" within this; nothing asserts on how fast.
NORMAL_TIMEOUT = 30.0
# Quick attacks are repeated until the normal client has had this many sessions during them.
MIN_NORMAL_SESSIONS = 3


class SkipAttack(Exception):
    pass


def memory_bound(optimised):
    """The peak RSS growth an attack may cause: `optimised` on the normal build, a loose bound
    under sanitizers (see SANITIZED)."""
    return 2 * optimised + 400 * MiB if SANITIZED else optimised


# ---------------------------------------------------------------------------------------------
# Server memory


def process_tree(pid):
    """pid and every descendant (postern serve is one process today; a helper would count)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def read_rss_pss(pid):
    """(RSS, PSS) in bytes of pid and its descendants, from smaps_rollup."""
    rss = pss = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            pass
    return rss, pss


def vm_hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak(pid):
    """Resets VmHWM to the current RSS (root only); sampling still bounds the peak without it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class MemorySampler:
    """Samples the server's RSS and PSS every `interval` seconds in a thread; keeps the peaks."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.baseline_rss = self.baseline_pss = 0
        self.peak_rss = self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = None
        self._hwm_reset = False

    def start(self):
        self.baseline_rss, self.baseline_pss = read_rss_pss(self.pid)
        self.peak_rss, self.peak_pss = self.baseline_rss, self.baseline_pss
        self._hwm_reset = reset_peak(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        rss, pss = read_rss_pss(self.pid)
        if rss:
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.samples += 1

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._sample()
        if self._hwm_reset:  # the kernel's exact peak, which a 50 ms sampler can miss
            self.peak_rss = max(self.peak_rss, vm_hwm(self.pid))

    @property
    def growth(self):
        return self.peak_rss - self.baseline_rss


# ---------------------------------------------------------------------------------------------
# The normal client


class SourcePOP3(poplib.POP3):
    """poplib.POP3 connecting from a chosen local address."""

    def __init__(self, host, port, source, timeout):
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


class NormalClient:
    """An ordinary user doing login, STAT, RETR 1, QUIT over and over in a thread, with poplib.

    Every session must return the right STAT and the exact message; an exception, a wrong answer
    or a session longer than NORMAL_TIMEOUT is an error. Latencies are recorded per session."""

    def __init__(self, port, source=NORMAL_SOURCE, message=fixtures.NORMAL, pause=0.25):
        self.port = port
        self.source = source
        self.wire = wire_form(message)
        self.pause_between = pause
        self.latencies = []
        self.errors = []
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._idle = threading.Event()  # set while paused or between sessions
        self._cond = threading.Condition()
        self._thread = None

    def session(self):
        """One session; returns its duration in seconds or raises."""
        start = time.monotonic()
        p = SourcePOP3("127.0.0.1", self.port, self.source, NORMAL_TIMEOUT)
        try:
            p.user(NORMAL_USER)
            p.pass_(NORMAL_PASSWORD)
            stat = p.stat()
            if stat != (1, len(self.wire)):
                raise AssertionError(f"normal client: STAT {stat}, expected (1, {len(self.wire)})")
            _resp, lines, _octets = p.retr(1)
            if b"".join(line + CRLF for line in lines) != self.wire:
                raise AssertionError("normal client: RETR 1 returned other bytes than the message")
            p.quit()
        finally:
            p.close()
        return time.monotonic() - start

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            if not self._running.is_set():
                self._idle.set()
                self._running.wait(0.1)
                continue
            self._idle.clear()
            try:
                latency = self.session()
                with self._cond:
                    self.latencies.append(latency)
                    self._cond.notify_all()
            except Exception as e:  # noqa: BLE001 - every failure is a finding, reported later
                with self._cond:
                    self.errors.append(f"{type(e).__name__}: {e}")
                    self._cond.notify_all()
            self._idle.set()
            self._stop.wait(self.pause_between)

    def pause(self):
        """Stop starting sessions; returns once the current one has finished."""
        self._running.clear()
        self._idle.wait(NORMAL_TIMEOUT * 2)

    def resume(self):
        self._running.set()

    def wait_sessions(self, count, timeout=120):
        """Blocks until `count` sessions (ok or failed) have finished since the start."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.latencies) + len(self.errors) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))
        return True

    def stop(self):
        self._stop.set()
        self._running.set()
        if self._thread is not None:
            self._thread.join(NORMAL_TIMEOUT * 2 + 5)
            if self._thread.is_alive():
                self.errors.append("normal client session still running after the attack")


# ---------------------------------------------------------------------------------------------
# Running one attack


class Result:
    def __init__(self, name):
        self.name = name
        self.baseline_rss = self.baseline_pss = 0
        self.peak_rss = self.peak_pss = 0
        self.memory_limit = 0
        self.latencies = []
        self.normal_errors = []
        self.outcome = ""
        self.failures = []
        self.skipped = None
        self.seconds = 0.0

    @property
    def growth(self):
        return self.peak_rss - self.baseline_rss

    def latency_summary(self):
        if not self.latencies:
            return "no session"
        return (f"{statistics.median(self.latencies) * 1000:.0f} ms / "
                f"{max(self.latencies) * 1000:.0f} ms ({len(self.latencies)} sessions)")


class Context:
    """What an attack's run() gets: the server fixture and the normal client."""

    def __init__(self, fixture, normal):
        self.fixture = fixture
        self.normal = normal
        self.port = fixture.port

    def normal_sessions(self):
        return len(self.normal.latencies) + len(self.normal.errors)

    def hold_for_normal_sessions(self, count=3, timeout=120):
        """While the attack holds its state: wait until the normal client has done `count`
        more sessions (so every attack is measured against at least a few)."""
        if not self.normal.wait_sessions(self.normal_sessions() + count, timeout):
            raise AssertionError(f"the normal client did not finish {count} sessions within "
                                 f"{timeout}s during the attack")


class Attack(abc.ABC):
    """One attack. Subclasses set name and memory_limit (peak RSS growth on the optimised build)
    and override run(); config(), prepare(), verify_after() and cleanup() when they need to."""

    name = ""
    memory_limit = 64 * MiB
    users = {}  # extra passwd-file users: name -> password

    def config(self, fixture):
        """ServerFixture.start() keyword arguments."""
        return {}

    def prepare(self, fixture):
        """Before the server starts: mounts, maildrops."""

    @abc.abstractmethod
    def run(self, ctx):
        """The attack; returns a one-line outcome. Raises AssertionError on wrong behaviour."""

    def verify_after(self, fixture):
        """After the attack, server still running: nothing lost."""

    def cleanup(self, fixture):
        """After the server stopped, before its directory is removed (unmounts)."""


def normal_maildrop_files(fixture):
    out = {}
    for name in fixture.message_files(NORMAL_USER):
        with open(os.path.join(fixture.maildir(NORMAL_USER), name), "rb") as f:
            out[name.split("/", 1)[1].split(":", 1)[0]] = f.read()
    return out


def run_attack(attack):
    """Runs one attack in its own server; returns a Result (failures empty when all is well)."""
    result = Result(attack.name)
    result.memory_limit = memory_bound(attack.memory_limit)
    started = time.monotonic()
    users = dict(DEFAULT_USERS)
    users[NORMAL_USER] = NORMAL_PASSWORD
    users.update(attack.users)
    fixture = ServerFixture(users=users)
    normal = sampler = None
    try:
        try:
            attack.prepare(fixture)
        except SkipAttack as e:
            result.skipped = str(e)
            return result
        fixture.add_message(NORMAL_USER, fixtures.NORMAL)
        fixture.start(**attack.config(fixture))
        normal = NormalClient(fixture.port)
        normal.session()  # warm-up: the first login builds the normal user's index
        before = normal_maildrop_files(fixture)
        sampler = MemorySampler(fixture.process.pid).start()
        normal.start()
        ctx = Context(fixture, normal)
        try:
            result.outcome = attack.run(ctx)
        except SkipAttack as e:
            result.skipped = str(e)
        except AssertionError as e:
            result.failures.append(f"attack: {e}")
            result.outcome = "FAILED"
        except Exception as e:  # noqa: BLE001 - a dropped connection, a garbled reply ...
            result.failures.append(f"attack: {type(e).__name__}: {e}")
            result.outcome = "FAILED"
        normal.stop()
        sampler.stop()
        result.baseline_rss, result.baseline_pss = sampler.baseline_rss, sampler.baseline_pss
        result.peak_rss, result.peak_pss = sampler.peak_rss, sampler.peak_pss
        result.latencies = list(normal.latencies)
        result.normal_errors = list(normal.errors)
        if result.skipped:
            return result
        if not fixture.alive():
            result.failures.append(f"the server died (status {fixture.process.returncode}); "
                                   "log tail:\n" + fixture.log_text()[-3000:])
            return result
        if normal.errors:
            result.failures.append(f"the normal client was not served: {normal.errors[:3]}")
        if not normal.latencies:
            result.failures.append("the normal client finished no session during the attack")
        if result.growth > result.memory_limit:
            result.failures.append(
                f"server peak RSS grew by {result.growth / MiB:.1f} MiB during the attack "
                f"(baseline {result.baseline_rss / MiB:.1f} MiB), over the bound of "
                f"{result.memory_limit / MiB:.0f} MiB")
        try:
            attack.verify_after(fixture)
        except AssertionError as e:
            result.failures.append(f"after the attack: {e}")
        try:
            normal.session()
        except Exception as e:  # noqa: BLE001
            result.failures.append(f"normal session after the attack: {e}")
        if normal_maildrop_files(fixture) != before:
            result.failures.append("the normal user's maildrop changed")
        rc = fixture.stop()
        if rc != 0:
            result.failures.append(f"postern exited with status {rc} on SIGTERM; log tail:\n"
                                   + fixture.log_text()[-3000:])
        return result
    finally:
        if normal is not None:
            normal.stop()
        fixture.kill()
        try:
            attack.cleanup(fixture)
        finally:
            fixture.cleanup()
        result.seconds = time.monotonic() - started


# ---------------------------------------------------------------------------------------------
# Helpers for attacks


def raise_nofile(wanted):
    """Raises this process's descriptor limit towards `wanted` (the hard limit caps it); returns
    the soft limit now in force. The server inherits it, and raises its own to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def source_address(block, i):
    """The i-th distinct loopback address of a block (1..250): 127.block.(i // 250).(i % 250 + 1).
    Every 127.x.y.z reaches the 127.0.0.1 listener; each counts as its own client."""
    return f"127.{block}.{i // 250}.{i % 250 + 1}"


def connect_from(port, source, timeout=NORMAL_TIMEOUT):
    return Pop3Line(port, timeout=timeout, source=source)


def first_line_or_close(c):
    try:
        return c.read_line()
    except (ConnectionClosed, ConnectionResetError):
        return None


def expect_err(line, what):
    if not line.startswith(b"-ERR"):
        raise AssertionError(f"{what}: expected -ERR, got {line[:200]!r}")


def expect_ok(line, what):
    if not line.startswith(b"+OK"):
        raise AssertionError(f"{what}: expected +OK, got {line[:200]!r}")


def in_threads(target, args_list):
    """Runs target(*args) for each args in threads; re-raises the first exception."""
    errors = []

    def wrap(*args):
        try:
            target(*args)
        except Exception as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=args, daemon=True) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    if any(t.is_alive() for t in threads):
        raise AssertionError("attack threads did not finish within 600 s")
    if errors:
        raise errors[0]


def writer_thread(sock, data):
    """sendall(data) in a thread, so the caller can read at the same time."""
    errors = []

    def run():
        try:
            sock.sendall(data)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


def maildrop_contents(fixture, user):
    """{file name without flags: content} of every message in new/ and cur/."""
    out = {}
    for name in fixture.message_files(user):
        path = os.path.join(fixture.maildir(user), name)
        try:
            with open(path, "rb") as f:
                out[os.path.basename(name).split(":", 1)[0]] = f.read()
        except FileNotFoundError:
            pass
    return out


def attacker_message(user, n=0):
    return (f"From: someone@example.com\nTo: {user}@example.org\nSubject: for {user} #{n}\n\n"
            f"A message that must survive the attack ({user} #{n}).\n").encode()


# ---------------------------------------------------------------------------------------------
# 1. Slowloris


class Slowloris(Attack):
    """COUNT connections from distinct addresses, each trickling "QUIT\\r\\n" one byte every
    INTERVAL seconds. With the default [limits] (10,000 total, 50 per address) every one must
    be greeted, stay open while trickling, and get the QUIT answer and a clean close."""

    name = "slowloris"
    PAYLOAD = b"QUIT\r\n"

    def __init__(self, count=5000, interval=4.0):
        self.count = count
        self.interval = interval
        # Each connection costs a coroutine frame, a session and its line buffer: about 11 KiB
        # here. The bound is 40 KiB each, far below what a buffer per byte or per read would be.
        self.memory_limit = max(64 * MiB, count * 40 * 1024)

    def run(self, ctx):
        check_default_limits(ctx.fixture)
        wanted = self.count + 512
        have = raise_nofile(wanted)
        if have < wanted:
            raise AssertionError(f"RLIMIT_NOFILE hard limit {have} is below the {wanted} "
                                 "descriptors this attack needs")
        conns = SlowConnections(ctx.port, [source_address(10 + i // 50000, i % 50000)
                                           for i in range(self.count)])
        try:
            greeted, refused = conns.open_all(timeout=120)
            if refused or greeted != self.count:
                raise AssertionError(f"default limits: {greeted} of {self.count} connections "
                                     f"from distinct addresses greeted, {refused} refused: "
                                     f"{conns.sample_problems()}")
            opened = time.monotonic()
            for k in range(len(self.PAYLOAD)):
                conns.send_byte(self.PAYLOAD[k:k + 1])
                if k + 1 < len(self.PAYLOAD):
                    conns.watch(self.interval)
            held = time.monotonic() - opened
            answered, problems = conns.collect_answers(timeout=120)
            if answered != self.count:
                raise AssertionError(f"{answered} of {self.count} slow QUITs answered with +OK "
                                     f"and a close; problems: {problems[:5]}")
        finally:
            conns.close()
        return (f"{self.count} greeted (default limits), trickled 1 byte/{self.interval:.0f} s "
                f"for {held:.0f} s, all QUITs answered")


def check_default_limits(fixture):
    """The attack's config has no [limits]: `postern check-config` must show the defaults."""
    r = run_postern(["check-config", "--config", fixture.config_file])
    if r.returncode != 0:
        raise AssertionError(f"check-config failed: {r.stderr}")
    text = r.stdout
    for key, value in (("connections", "10000"), ("connections_per_address", "50")):
        if not re.search(rf"(?m)^{key}\s*=\s*{value}\s*$", text):
            raise AssertionError(f"effective config does not have {key} = {value}:\n{text}")


class SlowConnections:
    """Many non-blocking client sockets driven by one selector in this thread."""

    def __init__(self, port, sources):
        self.port = port
        self.sources = sources
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.buf = {}        # fd -> bytearray of what arrived
        self.greeted = set()
        self.closed = set()  # fds where the server closed
        self.problems = []

    def open_all(self, timeout):
        deadline = time.monotonic() + timeout
        for i, source in enumerate(self.sources):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((source, 0))
            err = s.connect_ex(("127.0.0.1", self.port))
            if err not in (0, 115):  # 115: EINPROGRESS
                raise AssertionError(f"connect from {source}: {os.strerror(err)}")
            self.socks.append(s)
            self.buf[s.fileno()] = bytearray()
            self.sel.register(s, selectors.EVENT_READ)
            if i % 200 == 199:  # let the accept queue drain now and then
                self._pump(0.01)
        while len(self.greeted) + len(self.closed) < len(self.socks):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._pump(min(remaining, 0.5))
        refused = sum(1 for s in self.socks if s.fileno() in self.closed
                      or (self.buf[s.fileno()] and not self.buf[s.fileno()].startswith(b"+OK")))
        return len(self.greeted), refused

    def _pump(self, timeout):
        for key, _ in self.sel.select(timeout):
            s = key.fileobj
            fd = s.fileno()
            try:
                data = s.recv(4096)
            except (ConnectionResetError, ConnectionRefusedError, BlockingIOError) as e:
                if isinstance(e, BlockingIOError):
                    continue
                data = b""
            if not data:
                self.closed.add(fd)
                self.sel.unregister(s)
                continue
            b = self.buf[fd]
            b += data
            if fd not in self.greeted and b"\r\n" in b:
                if b.startswith(b"+OK"):
                    self.greeted.add(fd)
                else:
                    self.problems.append(bytes(b[:100]))

    def sample_problems(self):
        return self.problems[:5]

    def send_byte(self, byte):
        for s in self.socks:
            if s.fileno() in self.closed:
                continue
            try:
                s.send(byte)
            except OSError as e:
                self.problems.append(f"send: {e}")

    def watch(self, seconds):
        """Waits, reading: during the trickle the server must say nothing and close nothing."""
        before = {fd: len(b) for fd, b in self.buf.items()}
        closed_before = len(self.closed)
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self._pump(remaining)
        spoke = [fd for fd, n in before.items() if len(self.buf[fd]) != n]
        if spoke or len(self.closed) != closed_before:
            example = bytes(self.buf[spoke[0]][-100:]) if spoke else b""
            raise AssertionError(f"during the trickle the server answered {len(spoke)} and "
                                 f"closed {len(self.closed) - closed_before} connections "
                                 f"(e.g. {example!r})")

    def collect_answers(self, timeout):
        deadline = time.monotonic() + timeout
        while len(self.closed) < len(self.socks):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._pump(min(remaining, 0.5))
        answered, problems = 0, []
        for s in self.socks:
            lines = bytes(self.buf[s.fileno()]).split(b"\r\n")
            # greeting, the QUIT answer, "" after the last CRLF; then the server closed.
            if (s.fileno() in self.closed and len(lines) == 3 and lines[1].startswith(b"+OK")
                    and lines[2] == b""):
                answered += 1
            elif len(problems) < 10:
                problems.append((s.getsockname()[0], bytes(self.buf[s.fileno()][-120:]),
                                 s.fileno() in self.closed))
        return answered, problems

    def close(self):
        for s in self.socks:
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        self.sel.close()


# ---------------------------------------------------------------------------------------------
# 2. One-megabyte lines


class MegabyteLines(Attack):
    """CONNS connections at once send 1 MB lines before login (a bare line, USER, PASS, AUTH and
    an AUTH continuation) and after login (NOOP, and RETR and DELE with a million-digit number),
    each answered -ERR with the session going on, plus 16 MB with no line end at all. The server must discard
    what it cannot use: memory must not grow with the megabytes sent."""

    name = "1 MB lines"
    LINE = 1024 * 1024

    def __init__(self, conns=4, rounds=8):
        self.conns = conns
        self.rounds = rounds
        self.users = {f"att{i}": f"attacker {i} password" for i in range(conns)}
        # Every line is dropped as it arrives: a copy of one line would be 1 MiB per connection;
        # keeping them, the ~100 MiB sent.
        self.memory_limit = 24 * MiB

    def prepare(self, fixture):
        for user in self.users:
            fixture.add_message(user, attacker_message(user))

    def one_attacker(self, port, i):
        big = b"x" * self.LINE
        user = f"att{i}"
        c = connect_from(port, source_address(20, i))
        try:
            expect_ok(c.read_greeting(), "greeting")
            for r in range(self.rounds):
                kind = r % 5
                if kind == 4:
                    line = c.cmd("AUTH PLAIN")
                    if not line.startswith(b"+"):
                        raise AssertionError(f"AUTH PLAIN: expected a continuation, got {line!r}")
                    c.send(base64.b64encode(big)[:self.LINE] + CRLF)
                else:
                    c.send((b"", b"USER ", b"PASS ", b"AUTH PLAIN ")[kind] + big + CRLF)
                expect_err(c.read_line(), f"1 MB line (kind {kind}) before login")
                expect_ok(c.cmd("CAPA"), "CAPA after a 1 MB line")
                c.read_multiline()
            # 16 MB without any line end, then one: a single over-long line, one -ERR.
            t, errors = writer_thread(c.sock, big * 16 + CRLF)
            expect_err(c.read_line(), "16 MB without a line end")
            t.join(120)
            if errors:
                raise AssertionError(f"writing 16 MB: {errors[0]}")
            expect_ok(c.login(user, self.users[user]), "login after the long lines")
            for r in range(self.rounds):
                prefix = (b"NOOP ", b"RETR ", b"DELE ")[r % 3]
                filler = b"1" * self.LINE if prefix != b"NOOP " else big
                c.send(prefix + filler + CRLF)
                expect_err(c.read_line(), f"1 MB {prefix.strip()!r} line after login")
                expect_ok(c.cmd("NOOP"), "NOOP after a 1 MB line")
            size = len(wire_form(attacker_message(user)))
            if c.cmd("STAT") != b"+OK 1 %d" % size:
                raise AssertionError(f"{user}: STAT wrong after the long lines")
            expect_ok(c.cmd("QUIT"), "QUIT")
            c.wait_closed()
        finally:
            c.close()

    def run(self, ctx):
        repeats = 0
        # Again until the normal client has had a few sessions during the attack.
        while repeats < 1 or (ctx.normal_sessions() < MIN_NORMAL_SESSIONS and repeats < 20):
            in_threads(self.one_attacker, [(ctx.port, i) for i in range(self.conns)])
            repeats += 1
        sent = repeats * self.conns * (self.rounds * 2 + 16)
        return (f"{repeats} x {self.conns} connections, {sent} MB of over-long lines: every one "
                "-ERR, sessions went on")

    def verify_after(self, fixture):
        for user in self.users:
            if list(maildrop_contents(fixture, user).values()) != [attacker_message(user)]:
                raise AssertionError(f"{user}'s maildrop changed")


# ---------------------------------------------------------------------------------------------
# 3. 100,000 pipelined commands


class Pipelined(Attack):
    """USER, PASS and COUNT commands (NOOP, STAT, LIST 1, DELE 2, RSET in turn) and QUIT in one
    write stream with the default configuration; the client starts reading only after a pause,
    so the server must hold back rather than buffer. Every answer must come, in order, exact."""

    name = "100,000 pipelined commands"
    CYCLE = (b"NOOP", b"STAT", b"LIST 1", b"DELE 2", b"RSET")

    def __init__(self, count=100000):
        assert count % len(self.CYCLE) == 0  # ends with RSET: QUIT deletes nothing
        self.count = count
        # The answers are ~3 MB; the server must not queue them (nor the 1 MB of commands).
        self.memory_limit = 16 * MiB
        self.messages = [fixtures.NORMAL, fixtures.DOTS]

    def prepare(self, fixture):
        for m in self.messages:
            fixture.add_message("alice", m)

    def run(self, ctx):
        sizes = [len(wire_form(m)) for m in self.messages]
        total = sum(sizes)
        expected = {b"STAT": b"+OK 2 %d" % total, b"LIST 1": b"+OK 1 %d" % sizes[0]}
        c = connect_from(ctx.port, source_address(30, 0), timeout=120)
        try:
            expect_ok(c.read_greeting(), "greeting")
            commands = [self.CYCLE[i % len(self.CYCLE)] for i in range(self.count)]
            stream = (f"USER alice\r\nPASS {DEFAULT_USERS['alice']}\r\n".encode()
                      + b"".join(cmd + CRLF for cmd in commands) + b"QUIT\r\n")
            t, errors = writer_thread(c.sock, stream)
            time.sleep(2)  # the server fills its socket buffers and must wait for us
            expect_ok(c.read_line(), "USER")
            expect_ok(c.read_line(), "PASS")
            for i, command in enumerate(commands):
                line = c.read_line()
                want = expected.get(command)
                if want is not None and line != want:
                    raise AssertionError(f"answer {i} ({command!r}): {line!r}, expected {want!r}")
                if want is None and not line.startswith(b"+OK"):
                    raise AssertionError(f"answer {i} ({command!r}): {line!r}")
                if i == self.count // 2:  # the pipeline is in flight: others are served
                    ctx.hold_for_normal_sessions(2)
            expect_ok(c.read_line(), "QUIT after the pipeline")
            c.wait_closed()
            t.join(60)
            if errors:
                raise AssertionError(f"writing the pipeline: {errors[0]}")
        finally:
            c.close()
        return (f"{self.count:,} commands in one stream (default config): all answered in "
                "order, exact")

    def verify_after(self, fixture):
        if sorted(maildrop_contents(fixture, "alice").values()) != sorted(self.messages):
            raise AssertionError("alice's maildrop changed")


# ---------------------------------------------------------------------------------------------
# 4. NULs and invalid UTF-8


BAD_BYTES = [b"\x00", b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
             b"\xfe\xff", b"\xe2\x82", b"\x80"]
UTF8_USER = "jörg"
UTF8_PASSWORD = "pässwörd ünïcode"


class BadBytes(Attack):
    """NULs and invalid UTF-8 (lone continuation bytes, overlong forms, surrogates, code points
    past U+10FFFF, truncated sequences) in commands, user names, passwords, AUTH PLAIN and AUTH
    LOGIN payloads, before login and after the UTF8 command, and in commands after login. Every
    one is -ERR and the session goes on (or closes cleanly at max_auth_failures); a real UTF-8
    user name logs in; nothing is executed; the log escapes every byte."""

    name = "NULs and invalid UTF-8"
    # An unknown user's password is checked against a dummy yescrypt hash (so that timing does
    # not tell who exists): 16 MiB per hashing thread of the blocking pool, once.
    memory_limit = 48 * MiB
    users = {"att0": "attacker 0 password", UTF8_USER: UTF8_PASSWORD}

    def __init__(self, rounds=3):
        self.rounds = rounds

    def prepare(self, fixture):
        for user in ("att0", UTF8_USER):
            fixture.add_message(user, attacker_message("att0" if user == "att0" else "utf8"))

    def connect(self, ctx, utf8):
        c = connect_from(ctx.port, source_address(40, 1))
        expect_ok(c.read_greeting(), "greeting")
        if utf8:
            c.send(b"CAPA\r\n")
            expect_ok(c.read_line(), "CAPA")
            offered = b"\r\nUTF8" in b"\r\n" + c.read_multiline()
            line = c.cmd("UTF8")
            if offered:
                expect_ok(line, "UTF8 (offered in CAPA)")
            else:
                expect_err(line, "UTF8 (not offered in CAPA)")
        return c

    def commands_before_login(self, ctx, utf8):
        c = self.connect(ctx, utf8)
        try:
            for bad in BAD_BYTES:
                for line in (b"CAPA" + bad, bad + b"CAPA", b"NO" + bad + b"OP", b"QU" + bad + b"IT",
                             bad, b"STLS" + bad):
                    expect_err(c.cmd(line), f"command {line!r} before login")
                expect_ok(c.cmd("CAPA"), "CAPA between bad commands")
                c.read_multiline()
            expect_ok(c.cmd("QUIT"), "QUIT")
            c.wait_closed()
        finally:
            c.close()

    def refused_login(self, ctx, utf8, steps, what):
        """A fresh connection; `steps` are (line, expectation) with expectation "+" (an AUTH
        continuation), "ok", "err", or "ok-or-err" / "+-or-err" (a refusal there ends the
        steps early); the last step must be the refusal. Then CAPA must still work, unless
        the refusal closed the connection."""
        c = self.connect(ctx, utf8)
        try:
            for line, want in steps:
                got = c.cmd(line)
                continuation = got.startswith(b"+ ") or got == b"+"
                if want in ("+", "+-or-err") and not continuation:
                    if want == "+-or-err" and got.startswith(b"-ERR"):
                        break  # refused at this step already: fine
                    raise AssertionError(f"{what}: {line!r}: expected a continuation, got {got!r}")
                if want == "err":
                    expect_err(got, f"{what}: {line!r}")
                if want == "ok":
                    expect_ok(got, f"{what}: {line!r}")
                if want == "ok-or-err" and got.startswith(b"-ERR"):
                    break  # refused at USER already: fine
            expect_ok(c.cmd("CAPA"), f"CAPA after {what}")
            c.read_multiline()
        finally:
            c.close()

    def logins(self, ctx, utf8):
        alice_pw = DEFAULT_USERS["alice"].encode()
        for bad in BAD_BYTES:
            self.refused_login(ctx, utf8, [(b"USER al" + bad + b"ice", "ok-or-err"),
                                           (b"PASS " + alice_pw, "err")], "bad user name")
            self.refused_login(ctx, utf8, [(b"USER alice", "ok"),
                                           (b"PASS " + alice_pw[:6] + bad + alice_pw[6:], "err")],
                               "bad password")
            self.refused_login(ctx, utf8, [(b"USER j" + bad + b"rg", "ok-or-err"),
                                           (b"PASS " + UTF8_PASSWORD.encode(), "err")],
                               "mangled UTF-8 user name")
            for payload in (b"\x00al" + bad + b"ice\x00" + alice_pw,
                            bad + b"\x00alice\x00" + alice_pw,
                            b"\x00alice\x00" + alice_pw + bad,
                            b"\x00alice" + bad,
                            bad + bad + bad,
                            b"alice" + bad + b"\x00alice\x00" + alice_pw):
                b64 = base64.b64encode(payload)
                self.refused_login(ctx, utf8, [(b"AUTH PLAIN " + b64, "err")], "AUTH PLAIN")
                self.refused_login(ctx, utf8, [(b"AUTH PLAIN", "+"), (b64, "err")],
                                   "AUTH PLAIN continuation")
            self.refused_login(ctx, utf8, [(b"AUTH PLAIN AG" + bad + b"Fs", "err")],
                               "AUTH PLAIN with raw bad bytes")
            self.refused_login(ctx, utf8, [(b"AUTH LOGIN", "+"),
                                           (base64.b64encode(b"al" + bad + b"ice"), "+-or-err"),
                                           (base64.b64encode(alice_pw), "err")], "AUTH LOGIN user")
            self.refused_login(ctx, utf8, [(b"AUTH LOGIN", "+"), (base64.b64encode(b"alice"), "+"),
                                           (base64.b64encode(alice_pw + bad), "err")],
                               "AUTH LOGIN password")
            self.refused_login(ctx, utf8, [(b"AUTH LOGIN", "+"), (b"dX" + bad + b"Nlcg==", "err")],
                               "AUTH LOGIN raw bad bytes")

    def utf8_user_logs_in(self, ctx, utf8):
        c = self.connect(ctx, utf8)
        try:
            expect_ok(c.login(UTF8_USER.encode(), UTF8_PASSWORD.encode()), "UTF-8 user name")
            expect_ok(c.cmd("STAT"), "STAT as the UTF-8 user")
            expect_ok(c.cmd("QUIT"), "QUIT")
            c.wait_closed()
        finally:
            c.close()
        plain = base64.b64encode(b"\x00" + UTF8_USER.encode() + b"\x00" + UTF8_PASSWORD.encode())
        c = self.connect(ctx, utf8)
        try:
            expect_ok(c.cmd(b"AUTH PLAIN " + plain), "AUTH PLAIN as the UTF-8 user")
            expect_ok(c.cmd("QUIT"), "QUIT")
            c.wait_closed()
        finally:
            c.close()
        # The same name in Latin-1 is another (unknown) name.
        self.refused_login(ctx, utf8, [(b"USER j\xf6rg", "ok-or-err"),
                                       (b"PASS " + UTF8_PASSWORD.encode("latin-1"), "err")],
                           "Latin-1 spelling of a UTF-8 name")

    def after_login(self, ctx):
        c = connect_from(ctx.port, source_address(40, 2))
        try:
            expect_ok(c.read_greeting(), "greeting")
            expect_ok(c.login("att0", self.users["att0"]), "login")
            for bad in BAD_BYTES:
                for line in (b"STAT" + bad, b"RETR 1" + bad, b"LIST " + bad, b"DELE " + bad + b"1",
                             b"DELE 1" + bad, b"TOP 1 " + bad, b"UIDL" + bad, b"RSET" + bad,
                             bad + b"DELE 1", b"UTF8" + bad):
                    expect_err(c.cmd(line), f"{line!r} after login")
                    expect_ok(c.cmd("NOOP"), "NOOP between bad commands")
            size = len(wire_form(attacker_message("att0")))
            if c.cmd("STAT") != b"+OK 1 %d" % size:
                raise AssertionError("STAT changed by bad commands")
            expect_ok(c.cmd("QUIT"), "QUIT")
            c.wait_closed()
        finally:
            c.close()

    def run(self, ctx):
        rounds = 0
        while rounds < self.rounds or (ctx.normal_sessions() < MIN_NORMAL_SESSIONS
                                       and rounds < 10 * self.rounds):
            rounds += 1
            for utf8 in (False, True):
                self.commands_before_login(ctx, utf8)
                self.logins(ctx, utf8)
                self.utf8_user_logs_in(ctx, utf8)
            self.after_login(ctx)
        # The harness decodes the log as UTF-8 with replacement: U+FFFD means a raw byte.
        raw = [l for l in ctx.fixture.log_text().splitlines() if "\ufffd" in l or "\x00" in l]
        if raw:
            raise AssertionError(f"raw invalid UTF-8 or NUL bytes reached the log: {raw[0]!r}")
        failures = len(ctx.fixture.events("auth-failed"))
        return (f"{rounds} rounds, {len(BAD_BYTES)} byte sequences x commands, names, "
                f"passwords, AUTH PLAIN/LOGIN, before/after UTF8 and after login: all -ERR; "
                f"{failures} auth-failed log lines, all escaped")

    def verify_after(self, fixture):
        if list(maildrop_contents(fixture, "att0").values()) != [attacker_message("att0")]:
            raise AssertionError("att0's maildrop changed")


# ---------------------------------------------------------------------------------------------
# 5. Connection flood over the limits


class Flood(Attack):
    """Small limits ([limits] connections = TOTAL, connections_per_address = PER_ADDRESS):
    1) one address opens 5x its share and holds it: the first PER_ADDRESS are greeted, the rest
       refused with -ERR [SYS/TEMP] and a close; the normal client (another address) is served.
    2) CHURN connections opened in bursts from 5 addresses and dropped (closed or reset),
       more at once per address than its cap: each greeted or refused with -ERR, while the
       normal client is served.
    3) distinct addresses hold every slot and more: the excess is refused, so is a newcomer
       (documented: -ERR [SYS/TEMP] Too many connections); once the flood lets go, the normal
       client is served again at once."""

    name = "connection flood over the limits"
    TOTAL = 200
    PER_ADDRESS = 20
    BURST = 8
    memory_limit = 32 * MiB

    def __init__(self, churn=3000):
        self.churn = churn

    def config(self, fixture):
        return {"extra": f"[limits]\nconnections = {self.TOTAL}\n"
                         f"connections_per_address = {self.PER_ADDRESS}\n"}

    def hold(self, port, sources):
        """Opens one connection per source; returns (greeted connections, refusal lines)."""
        greeted, refused = [], []
        for source in sources:
            c = connect_from(port, source)
            line = first_line_or_close(c)
            if line is not None and line.startswith(b"+OK"):
                greeted.append(c)
                continue
            if line is not None:
                if not line.startswith(b"-ERR [SYS/TEMP] Too many connections"):
                    raise AssertionError(f"refusal from {source}: {line!r}")
                # After the refusal line the server closes.
                if c.wait_closed(10):
                    raise AssertionError(f"server kept talking after refusing {source}")
            refused.append(line)
            c.close()
        return greeted, refused

    def run(self, ctx):
        raise_nofile(4096)
        port = ctx.port
        greeted, refused = self.hold(port, [source_address(50, 0)] * (5 * self.PER_ADDRESS))
        if len(greeted) != self.PER_ADDRESS:
            raise AssertionError(f"per-address cap {self.PER_ADDRESS}: {len(greeted)} greeted")
        if any(line is None for line in refused):
            raise AssertionError("a per-address refusal closed without the -ERR line")
        if not all(b"from your address" in line for line in refused):
            raise AssertionError(f"per-address refusals: {set(refused)}")
        ctx.hold_for_normal_sessions(3)
        for c in greeted:
            c.close()

        # 2) churn: 20 threads on 5 addresses, each opening bursts of BURST and dropping them
        # (half with a reset): up to 4 x BURST at once per address, over its cap, while the
        # total stays under the total cap.
        counts = {"greeted": 0, "refused": 0}
        lock = threading.Lock()

        def churner(t):
            for k in range(self.churn // (20 * self.BURST)):
                burst = [connect_from(port, source_address(51, t % 5))
                         for _ in range(self.BURST)]
                lines = [first_line_or_close(c) for c in burst]
                for j, c in enumerate(burst):
                    c.abort() if (j + k) % 2 else c.close()
                for line in lines:
                    if line is not None and not line.startswith(b"+OK") and not line.startswith(
                            b"-ERR [SYS/TEMP] Too many connections"):
                        raise AssertionError(f"churn: {line!r}")
                with lock:
                    greeted = sum(1 for l in lines if l and l.startswith(b"+OK"))
                    counts["greeted"] += greeted
                    counts["refused"] += len(lines) - greeted

        in_threads(churner, [(t,) for t in range(20)])
        ctx.hold_for_normal_sessions(2)

        # 3) every slot taken by distinct addresses
        ctx.normal.pause()
        sources = [source_address(52, i) for i in range(self.TOTAL + 50)]
        held, refused = [], []
        deadline = time.monotonic() + 30
        while True:  # slots of churned connections may still be freeing
            held, refused = self.hold(port, sources)
            if len(held) == self.TOTAL or time.monotonic() > deadline:
                break
            for c in held:
                c.close()
            time.sleep(0.5)
        try:
            if len(held) != self.TOTAL:
                raise AssertionError(f"total cap {self.TOTAL}: {len(held)} greeted")
            if any(line is None or b"Too many connections" not in line for line in refused):
                raise AssertionError(f"total-cap refusals: {set(refused)}")
            newcomer = connect_from(port, NORMAL_SOURCE)
            line = first_line_or_close(newcomer)
            newcomer.close()
            if line is None or not line.startswith(b"-ERR [SYS/TEMP] Too many connections"):
                raise AssertionError(f"a newcomer at the total cap got {line!r}")
        finally:
            for c in held:
                c.close()
        # Slots free as the server sees the closes; the normal client then gets in.
        deadline = time.monotonic() + 30
        while True:
            try:
                ctx.normal.session()
                break
            except poplib.error_proto as e:
                if b"Too many connections" not in e.args[0] or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        ctx.normal.resume()
        ctx.hold_for_normal_sessions(2)
        return (f"per address: {self.PER_ADDRESS} of {5 * self.PER_ADDRESS} greeted, rest -ERR; "
                f"churn: {counts['greeted']} greeted, {counts['refused']} refused; total: "
                f"{self.TOTAL} of {len(sources)} greeted, rest and newcomer -ERR, normal client "
                "served once released")


# ---------------------------------------------------------------------------------------------
# 6. A thousand wrong passwords


class WrongPasswords(Attack):
    """Brute force against alice with the throttle on (short delays so the test is quick;
    block_after_failures at its default 20, so are block_window and block_duration):
    1) from one address, connection after connection (max_auth_failures = 3 each): the replies
       slow down to max_failure_delay, and once 20 failures are in, the next connection is
       refused before the greeting with -ERR [SYS/TEMP] Too many failed logins;
    2) COUNT wrong passwords spread over COUNT/20 addresses, in parallel: every one -ERR [AUTH],
       every address refused afterwards;
    the normal client is served throughout, alice logs in with her password from a fresh
    address, and from a refused address even the right password is refused (by address)."""

    name = "1,000 wrong passwords"
    memory_limit = 16 * MiB
    DELAY, MAX_DELAY, BLOCK_AFTER = 0.010, 0.100, 20

    def __init__(self, count=1000):
        self.count = count

    def config(self, fixture):
        return {"auth": {"failure_delay": f"{int(self.DELAY * 1000)}ms",
                         "max_failure_delay": f"{int(self.MAX_DELAY * 1000)}ms"}}

    def fail_until_refused(self, port, source, limit):
        """Wrong passwords for alice from `source` until refused or `limit` failures; returns
        (failures, refused, reply delays)."""
        failures, delays = 0, []
        while failures < limit:
            c = connect_from(port, source)
            try:
                line = first_line_or_close(c)
                if line is None or not line.startswith(b"+OK"):
                    if line is None or not line.startswith(
                            b"-ERR [SYS/TEMP] Too many failed logins"):
                        raise AssertionError(f"refusal from {source}: {line!r}")
                    return failures, True, delays
                while failures < limit:
                    expect_ok(c.cmd("USER alice"), "USER alice")
                    start = time.monotonic()
                    reply = c.cmd(f"PASS wrong-{failures}")
                    delays.append(time.monotonic() - start)
                    if not reply.startswith(b"-ERR [AUTH]"):
                        raise AssertionError(f"wrong password {failures}: {reply!r}")
                    failures += 1
                    if b"closing" in reply:
                        c.wait_closed()
                        break
            finally:
                c.close()
        return failures, False, delays

    def refused(self, port, source):
        c = connect_from(port, source)
        try:
            line = first_line_or_close(c)
        finally:
            c.close()
        return line is not None and line.startswith(b"-ERR [SYS/TEMP] Too many failed logins")

    def run(self, ctx):
        port = ctx.port
        # 1) one address
        single = source_address(60, 0)
        failures, refused, delays = self.fail_until_refused(port, single, 10 * self.BLOCK_AFTER)
        if not refused:
            raise AssertionError(f"{failures} failures from one address and still not refused")
        if not self.BLOCK_AFTER <= failures < self.BLOCK_AFTER + 3:
            raise AssertionError(f"refused after {failures} failures, expected "
                                 f"block_after_failures = {self.BLOCK_AFTER} (+ the rest of "
                                 "the last connection)")
        # Lower bounds only: the later replies wait at least the capped delay.
        slow = [d for d in delays[5:] if d < self.MAX_DELAY * 0.9]
        if slow:
            raise AssertionError(f"failure replies faster than max_failure_delay: {slow[:5]}")
        ctx.hold_for_normal_sessions(2)

        # 2) COUNT failures over many addresses
        per = self.BLOCK_AFTER
        sources = [source_address(61, i) for i in range(self.count // per)]
        done = []
        lock = threading.Lock()

        def attacker(chunk):
            for source in chunk:
                n, was_refused, _ = self.fail_until_refused(port, source, per)
                if was_refused or n != per:
                    raise AssertionError(f"{source}: refused after {n} of {per} failures")
                with lock:
                    done.append(n)

        in_threads(attacker, [(sources[t::10],) for t in range(10)])
        total = sum(done)
        not_refused = [s for s in sources if not self.refused(port, s)]
        if not_refused:
            raise AssertionError(f"{len(not_refused)} addresses with {per} failures not refused")
        # The account is not locked: the right password from a fresh address works ...
        c = connect_from(port, source_address(62, 0))
        try:
            expect_ok(c.read_greeting(), "greeting for a fresh address")
            expect_ok(c.login("alice", DEFAULT_USERS["alice"]), "alice from a fresh address")
            expect_ok(c.cmd("QUIT"), "QUIT")
        finally:
            c.close()
        # ... and from a refused address nobody gets in, whatever they know.
        if not self.refused(port, single):
            raise AssertionError("the refused address was let in again")
        logged = len(ctx.fixture.events("auth-failed"))
        if logged < failures + total:
            raise AssertionError(f"{logged} auth-failed log lines for {failures + total} failures")
        return (f"one address refused after {failures} failures (replies slowed to "
                f"{max(delays) * 1000:.0f} ms); {total} more over {len(sources)} addresses, all "
                "refused after; alice still logs in from elsewhere")

    def verify_after(self, fixture):
        pass


# ---------------------------------------------------------------------------------------------
# 7. Full disk during LMTP delivery


def try_mount_tmpfs(directory, options):
    """Mounts a tmpfs; False (and an explanation in last_mount_error) when not permitted."""
    global last_mount_error
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", directory],
                           capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    except OSError as e:
        last_mount_error = str(e)
        return False
    last_mount_error = r.stderr.strip()
    return r.returncode == 0


last_mount_error = ""


def mount_tmpfs(directory, options):
    if not try_mount_tmpfs(directory, options):
        raise SkipAttack(f"cannot mount a tmpfs ({last_mount_error})")


def available_memory():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def umount(directory):
    subprocess.run(["umount", directory], capture_output=True, timeout=PROCESS_TIMEOUT)


class FullDisk(Attack):
    """Every maildir on a SIZE tmpfs; LMTP deliveries of ~60 KB messages to alice until the disk
    is full: the first refusal must be a temporary 451/452 4.x.x; then a two-recipient
    transaction on the full disk. Only complete messages may be in new/ or cur/ (every file
    ends with exactly the message sent), tmp/ holds nothing; every 250 is in the maildrop. Then
    a POP3 session deletes three messages, and delivery works again and is retrievable."""

    name = "full disk during LMTP delivery"
    SIZE = "1m"
    memory_limit = 16 * MiB

    def config(self, fixture):
        return {"lmtp": True}

    def prepare(self, fixture):
        mount_tmpfs(fixture.mail_root, f"size={self.SIZE},mode=0755")
        self.mounted = fixture.mail_root

    def cleanup(self, fixture):
        if getattr(self, "mounted", None):
            umount(self.mounted)

    @staticmethod
    def message(n):
        body = "".join(f"line {k:04d} of message {n}: {'z' * 50}\n" for k in range(1000))
        return (f"From: sender@example.com\nTo: alice@example.org\nSubject: full disk #{n}\n\n"
                f"{body}").encode()

    def check_complete(self, fixture, user, accepted):
        """Each file in new/ and cur/ ends with one accepted message; every one is there."""
        md = fixture.maildir(user)
        tmp = os.listdir(os.path.join(md, "tmp"))
        if tmp:
            raise AssertionError(f"{user}: files left in tmp/: {tmp}")
        found = []
        for content in maildrop_contents(fixture, user).values():
            match = [n for n, m in accepted.items() if content.endswith(m)]
            if len(match) != 1:
                raise AssertionError(f"{user}: a file in the maildrop is no complete accepted "
                                     f"message ({len(content)} octets)")
            found.append(match[0])
        if sorted(found) != sorted(accepted):
            raise AssertionError(f"{user}: accepted {sorted(accepted)}, maildrop has "
                                 f"{sorted(found)}")

    def run(self, ctx):
        f = ctx.fixture
        accepted = {}
        first_refusal = None
        c = f.lmtp_connect()
        try:
            if not c.lhlo()[-1].startswith(b"250"):
                raise AssertionError("LHLO refused")
            for n in range(100):
                m = self.message(n)
                r = c.transaction("sender@example.com", ["alice"], m)
                result = r["results"][0] if r["results"] else r["data"]
                if result.startswith(b"250"):
                    accepted[n] = m
                    continue
                first_refusal = result
                break
            if first_refusal is None:
                raise AssertionError("100 messages fitted on the small tmpfs")
            if not re.match(rb"45[12] 4\.\d+\.\d+ ", first_refusal):
                raise AssertionError(f"full disk answered {first_refusal!r}, expected a "
                                     "temporary 451/452 4.x.x")
            self.check_complete(f, "alice", accepted)
            # Two recipients on the full disk: each 250 or 45x, and consistent with the disk.
            m = self.message(1000)
            r = c.transaction("sender@example.com", ["alice", "bob"], m)
            for result in r["results"]:
                if not re.match(rb"(250|45[12]) ", result):
                    raise AssertionError(f"two recipients on a full disk: {r}")
            if r["results"] and r["results"][0].startswith(b"250"):
                accepted[1000] = m
            bob = {1000: m} if len(r["results"]) > 1 and r["results"][1].startswith(b"250") else {}
            self.check_complete(f, "alice", accepted)
            if os.path.isdir(f.maildir("bob")):
                self.check_complete(f, "bob", bob)
            expect_ok_reply = c.cmd("RSET")
            if not expect_ok_reply.startswith(b"250"):
                raise AssertionError(f"RSET after the full disk: {expect_ok_reply!r}")
        finally:
            c.close()
        ctx.hold_for_normal_sessions(2)
        # Make room the POP3 way, on the still full disk.
        p = f.login("alice")
        try:
            count = int(p.cmd("STAT").split()[1])
            if count != len(accepted):
                raise AssertionError(f"POP3 sees {count} messages, {len(accepted)} accepted")
            for i in (1, 2, 3):
                expect_ok(p.cmd(f"DELE {i}"), "DELE on the full disk")
            quit_reply = p.cmd("QUIT")
            expect_ok(quit_reply, "QUIT deleting on the full disk")
            p.wait_closed()
        finally:
            p.close()
        if len(maildrop_contents(f, "alice")) != len(accepted) - 3:
            raise AssertionError("three deletions did not remove three files")
        m = self.message(2000)
        r = f.lmtp_deliver("sender@example.com", ["alice"], m)
        if not r["results"] or not r["results"][0].startswith(b"250"):
            raise AssertionError(f"delivery after freeing space: {r}")
        got = f.retr_all("alice")
        if not got or not got[-1].endswith(wire_form(m)):
            raise AssertionError("the message delivered after freeing space is not retrievable")
        self.accepted = len(accepted)
        return (f"{len(accepted)} delivered, then {first_refusal[:40].decode()!r}; nothing "
                "partial in new/cur/tmp; POP3 DELE freed space; delivery works again")


# ---------------------------------------------------------------------------------------------
# 8. A 2 GB message


class HugeMessage(Attack):
    """One message just over 2 GiB (and over 2^31, where 32-bit sizes break), written straight
    into alice's cur/ with CRLF line ends and no W= size, so the server counts it at login.
    LIST/STAT show its exact size; TOP 1 0 sends only the header; RETR streams every octet
    (checked with SHA-256 while reading, never held in memory); memory stays flat."""

    name = "2 GB message"
    memory_limit = 64 * MiB
    FREE_NEEDED = 6 * GiB

    def __init__(self, size=2 * GiB + 3 * MiB + 17):
        self.size = size
        self.mounted = None

    def prepare(self, fixture):
        md = fixture.maildir("alice")
        os.makedirs(md)
        # In memory when we may mount (root, as in CI): writing 2 GB to a disk and waiting for
        # its write-back costs far more than the attack. Else on disk, if there is room.
        if (available_memory() >= self.FREE_NEEDED
                and try_mount_tmpfs(md, f"size={self.size + 64 * MiB}")):
            self.mounted = md
        else:
            free = shutil.disk_usage(fixture.dir).free
            if free < self.FREE_NEEDED:
                raise SkipAttack(f"only {free / GiB:.1f} GiB free where the test writes, "
                                 f"{self.FREE_NEEDED / GiB:.0f} GiB needed")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        self.header = (b"From: big@example.com\r\nTo: alice@example.org\r\n"
                       b"Subject: 2 GB\r\n\r\n")
        line = b"0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789\r\n"
        block = line * (16 * MiB // len(line))
        digest = hashlib.sha256()
        self.path = os.path.join(md, "cur", "1700000000.M1P1.huge:2,")
        remaining = self.size - len(self.header)
        with open(self.path, "wb") as f:
            f.write(self.header)
            digest.update(self.header)
            while remaining > 0:
                # The last part is one line of its own length, so every line ends in CRLF.
                part = block if remaining >= len(block) + 2 else b"y" * (remaining - 2) + CRLF
                f.write(part)
                digest.update(part)
                remaining -= len(part)
        self.sha256 = digest.hexdigest()
        if os.path.getsize(self.path) != self.size:
            raise AssertionError("the 2 GB fixture came out the wrong size")

    def run(self, ctx):
        c = ctx.fixture.login("alice", timeout=600)  # the login counts 2 GB
        try:
            if c.cmd("STAT") != b"+OK 1 %d" % self.size:
                raise AssertionError(f"STAT for the 2 GB message: {c.cmd('STAT')!r}")
            if c.cmd("LIST 1") != b"+OK 1 %d" % self.size:
                raise AssertionError("LIST 1 shows a wrong size")
            expect_ok(c.cmd("TOP 1 0"), "TOP 1 0")
            if c.read_multiline() != self.header:
                raise AssertionError("TOP 1 0 did not send exactly the header")
            if c.cmd("RETR 1") != b"+OK %d octets" % self.size:
                raise AssertionError("RETR 1 status line")
            digest = hashlib.sha256()
            want = self.size + 3  # the message (no line starts with '.'), then ".\r\n"
            got = 0
            tail = b""
            pending = bytes(c.buf)
            c.buf.clear()
            buf = bytearray(4 * MiB)
            view = memoryview(buf)
            while got < want:
                if pending:
                    chunk, pending = pending[:want - got], b""
                    n = len(chunk)
                    data = memoryview(chunk)
                else:
                    n = c.sock.recv_into(view[:min(len(buf), want - got)])
                    if n == 0:
                        raise AssertionError(f"connection closed after {got} of {want} octets")
                    data = view[:n]
                content_left = self.size - got
                if content_left > 0:
                    digest.update(data[:min(n, content_left)])
                if got + n > self.size:
                    tail += bytes(data[max(0, self.size - got):n])
                got += n
            if tail != b".\r\n":
                raise AssertionError(f"RETR did not end with the terminator: {tail!r}")
            if digest.hexdigest() != self.sha256:
                raise AssertionError("RETR sent other octets than the 2 GB message")
            if c.cmd("NOOP") != b"+OK":
                raise AssertionError("stray octets after the 2 GB RETR")
            expect_ok(c.cmd("QUIT"), "QUIT")
            c.wait_closed()
        finally:
            c.close()
        return f"LIST {self.size:,}; TOP header only; RETR {self.size:,} octets, SHA-256 exact"

    def cleanup(self, fixture):
        if self.mounted:
            umount(self.mounted)

    def verify_after(self, fixture):
        files = fixture.message_files("alice")
        if len(files) != 1 or os.path.getsize(os.path.join(fixture.maildir("alice"),
                                                           files[0])) != self.size:
            raise AssertionError(f"the 2 GB message changed: {files}")


# ---------------------------------------------------------------------------------------------
# 9. A maildrop of 100,000 messages


class ManyMessages(Attack):
    """COUNT small files written straight into alice's cur/ (most with S= and W= sizes in the
    name, every tenth without, so it is read) and the last thousand in new/. Login, STAT, LIST,
    UIDL (unique, RFC 1939 form), RETR of a few, DELE of five, QUIT; a second session sees
    exactly the rest, in the same order; memory bounded."""

    name = "100,000-message maildrop"

    def __init__(self, count=100000):
        self.count = count
        self.mounted = None
        # Per message the server keeps a UIDL, a size and a file name, and builds the listing
        # and the index around them: about 430 bytes at the peak here; 1 KiB is the bound.
        self.memory_limit = max(32 * MiB, count * 1024)

    @staticmethod
    def content(i):
        return (f"From: bulk@example.com\nSubject: message {i}\n\nbody of {i}\n").encode()

    def prepare(self, fixture):
        md = fixture.maildir("alice")
        os.makedirs(md)
        # In memory when we may mount (root, as in CI): 100,000 files cost a busy disk half a
        # minute to create and as much to remove, a tmpfs two seconds and an unmount.
        self.mounted = md if try_mount_tmpfs(md, "size=1g,nr_inodes=200k") else None
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        cur, new = os.path.join(md, "cur"), os.path.join(md, "new")
        for i in range(self.count):
            data = self.content(i)
            base = f"{1700000000 + i}.M{i}P4242.bulk"
            if i >= self.count - 1000:
                path = os.path.join(new, base)
            elif i % 10:
                path = os.path.join(cur, f"{base},S={len(data)},W={len(wire_form(data))}:2,S")
            else:
                path = os.path.join(cur, base + ":2,")
            with open(path, "wb") as f:
                f.write(data)

    def cleanup(self, fixture):
        if self.mounted:
            umount(self.mounted)

    def number_of(self, c, n):
        """The i of message n, from its Subject."""
        expect_ok(c.cmd(f"TOP {n} 0"), f"TOP {n} 0")
        m = re.search(rb"Subject: message (\d+)", c.read_multiline())
        return int(m.group(1))

    def run(self, ctx):
        sizes = {i: len(wire_form(self.content(i))) for i in range(self.count)}
        total = sum(sizes.values())
        c = ctx.fixture.login("alice", timeout=300)
        try:
            if c.cmd("STAT") != b"+OK %d %d" % (self.count, total):
                raise AssertionError("STAT of the 100,000-message maildrop")
            expect_ok(c.cmd("LIST"), "LIST")
            listed = parse_multiline_pairs(c.read_multiline())
            if [n for n, _ in listed] != list(range(1, self.count + 1)):
                raise AssertionError("LIST numbers")
            if sorted(int(v) for _, v in listed) != sorted(sizes.values()):
                raise AssertionError("LIST sizes")
            expect_ok(c.cmd("UIDL"), "UIDL")
            uidls = [v for _, v in parse_multiline_pairs(c.read_multiline())]
            if len(set(uidls)) != self.count or not all(
                    0 < len(u) <= 70 and all(0x21 <= b <= 0x7e for b in u) for u in uidls):
                raise AssertionError("UIDLs not unique or not in RFC 1939 form")
            order = {}
            for n in (1, 2, self.count // 2, self.count - 1, self.count):
                expect_ok(c.cmd(f"RETR {n}"), f"RETR {n}")
                body = c.read_multiline()
                i = int(re.search(rb"Subject: message (\d+)", body).group(1))
                if body != wire_form(self.content(i)) or int(listed[n - 1][1]) != sizes[i]:
                    raise AssertionError(f"RETR {n} (message {i}) content or LIST size wrong")
                order[n] = i
            ctx.hold_for_normal_sessions(2)
            for n in order:
                expect_ok(c.cmd(f"DELE {n}"), f"DELE {n}")
            keep_n = self.count // 4
            kept_i = self.number_of(c, keep_n)
            expect_ok(c.cmd("QUIT"), "QUIT")
            c.wait_closed()
        finally:
            c.close()
        left = self.count - len(order)
        if len(ctx.fixture.message_files("alice")) != left:
            raise AssertionError(f"{len(ctx.fixture.message_files('alice'))} files left, "
                                 f"expected {left}")
        c = ctx.fixture.login("alice", timeout=300)
        try:
            gone = sum(sizes[i] for i in order.values())
            if c.cmd("STAT") != b"+OK %d %d" % (left, total - gone):
                raise AssertionError("STAT after deleting five")
            # Messages 1 and 2 are gone: what was message n is now n - 2.
            if self.number_of(c, keep_n - 2) != kept_i:
                raise AssertionError("the order of the maildrop changed")
            expect_ok(c.cmd("QUIT"), "QUIT")
        finally:
            c.close()
        self.deleted = set(order.values())
        return (f"{self.count:,} messages: STAT/LIST/UIDL exact, 5 RETR exact, 5 DELE removed "
                "exactly those, order kept")

    def verify_after(self, fixture):
        names = {os.path.basename(n).split(",")[0].split(":")[0]
                 for n in fixture.message_files("alice")}
        expected = {f"{1700000000 + i}.M{i}P4242.bulk" for i in range(self.count)
                    if i not in self.deleted}
        if names != expected:
            raise AssertionError(f"{len(expected - names)} messages lost, "
                                 f"{len(names - expected)} unexpected")


# ---------------------------------------------------------------------------------------------
# 10. Files changed behind the server's back


class ChangedFiles(Attack):
    """Message files changed behind a session's back, after LIST:
    1) one truncated, one replaced by other content (same name): RETR must not send other
       octets under the message's +OK: -ERR, or a close before the terminator (so that no
       client takes them for the message), are the acceptable answers;
    2) in one session: a file deleted (RETR and TOP -ERR), one renamed by another reader to
       set a flag (RETR exact), a new message delivered (the session's view stays), untouched
       messages exact, then cur/ renamed away (RETR -ERR or the exact message, through a
       descriptor the server holds; STAT still fine, DELE and QUIT) and back. The next
       session sees the new message and every untouched one; nothing is lost. Then cur/ is
       renamed away before a session reads anything: -ERR, and QUIT's answer matches what
       happened on disk."""

    name = "files changed behind the server's back"
    memory_limit = 16 * MiB

    def __init__(self, changed_content=True, moved_files=True):
        """Either half alone: changed_content is 1), moved_files is 2)."""
        self.changed_content = changed_content
        self.moved_files = moved_files

    def prepare(self, fixture):
        self.messages = [attacker_message("alice", n) + b"padding line\n" * (n * 50)
                         for n in range(8)]
        for m in self.messages:
            fixture.add_message("alice", m)

    def path_of(self, fixture, content):
        for name in fixture.message_files("alice"):
            path = os.path.join(fixture.maildir("alice"), name)
            with open(path, "rb") as f:
                if f.read() == content:
                    return path
        raise AssertionError("message file not found")

    def retr_changed(self, c, n):
        """RETR n of a changed file: (what happened, still connected, acceptable)."""
        line = c.cmd(f"RETR {n}")
        if line.startswith(b"-ERR"):
            return "-ERR", True, True
        if not line.startswith(b"+OK"):
            return f"{line[:60]!r}", True, False
        try:
            body = c.read_multiline()
        except (ConnectionClosed, ConnectionResetError):
            return "+OK, then closed before the terminator", False, True
        if body == wire_form(self.messages[n - 1]):
            return "+OK with the original octets", True, True
        return (f"+OK {line[4:].decode('ascii', 'replace')}, then {len(body)} other octets "
                "and the terminator", True, False)

    def run(self, ctx):
        f = ctx.fixture
        outcome, violations = {}, []
        sizes = [len(wire_form(m)) for m in self.messages]
        c = f.login("alice")
        try:
            expect_ok(c.cmd("LIST"), "LIST")
            if [int(v) for _, v in parse_multiline_pairs(c.read_multiline())] != sizes:
                raise AssertionError("LIST before the changes")
            paths = [self.path_of(f, m) for m in self.messages]
            if self.changed_content:
                c = self.change_content(ctx, c, paths, outcome, violations)
            if self.moved_files:
                quit_reply = self.move_files(ctx, c, paths, outcome)
            else:
                quit_reply = c.cmd("QUIT")
        finally:
            c.close()
        got = f.retr_all("alice")
        if self.moved_files:
            quit_ok = quit_reply.startswith(b"+OK")
            for n in (4, 5, 6, 7) + (() if quit_ok else (8,)):
                if wire_form(self.messages[n - 1]) not in got:
                    violations.append(f"message {n} (not deleted) was lost")
            if quit_ok and wire_form(self.messages[7]) in got:
                violations.append("QUIT answered +OK but message 8 is still there")
            if wire_form(self.arrived) not in got:
                violations.append("the message that arrived during the session is missing")
            self.cur_gone_before_first_read(f, outcome, violations)
        else:
            for n in (1, 4, 5, 6, 7, 8):
                if wire_form(self.messages[n - 1]) not in got:
                    violations.append(f"message {n} (untouched) was lost")
        summary = "; ".join(f"{k}: {v}" for k, v in outcome.items())
        if violations:
            raise AssertionError(" / ".join(violations) + f" ({summary})")
        return summary

    def change_content(self, ctx, c, paths, outcome, violations):
        """1) Truncated and replaced files; the names (and so the numbering) stay. Returns
        the session to go on with (a new one if the server closed the old)."""
        f = ctx.fixture
        with open(paths[1], "r+b") as fh:
            fh.truncate(len(self.messages[1]) // 2)
        what, alive, ok = self.retr_changed(c, 2)
        outcome["truncated"] = what
        if not ok:
            violations.append(f"RETR 2 of a truncated file: {what}")
        if not alive:
            c.close()
            c = f.login("alice")
        tmp = paths[2] + ".replacement"
        with open(tmp, "wb") as fh:
            fh.write(b"Subject: replaced\n\nother content entirely\n")
        os.rename(tmp, paths[2])
        what, alive, ok = self.retr_changed(c, 3)
        outcome["replaced"] = what
        if not ok:
            violations.append(f"RETR 3 of a replaced file: {what}")
        if not alive:
            c.close()
            c = f.login("alice")
        ctx.hold_for_normal_sessions(2)
        return c

    def cur_gone_before_first_read(self, f, outcome, violations):
        """cur/ renamed away right after login, before the session opened any message: RETR
        -ERR; DELE and QUIT either -ERR with nothing removed, or +OK with the file gone."""
        before = f.retr_all("alice")
        c = f.login("alice")
        cur = os.path.join(f.maildir("alice"), "cur")
        os.rename(cur, cur + ".away")
        try:
            line = c.cmd("RETR 1")
            outcome["cur/ gone before any read"] = line.decode("ascii", "replace")
            if line.startswith(b"+OK"):
                if c.read_multiline() != before[0]:
                    violations.append("RETR 1 with cur/ gone sent other octets")
            expect_ok(c.cmd("DELE 1"), "DELE 1 with cur/ gone")
            quit_reply = c.cmd("QUIT")
            outcome["its QUIT"] = quit_reply.decode("ascii", "replace")
            c.wait_closed()
        finally:
            c.close()
            os.rename(cur + ".away", cur)
        after = f.retr_all("alice")
        want = before[1:] if quit_reply.startswith(b"+OK") else before
        if after != want:
            violations.append(f"after QUIT {quit_reply[:40]!r} with cur/ gone the maildrop has "
                              f"{len(after)} messages, expected {len(want)}")

    def move_files(self, ctx, c, paths, outcome):
        """2) Vanished, renamed, arrived, cur/ gone; ends the session, returns QUIT's reply."""
        f = ctx.fixture
        os.unlink(paths[0])
        line = c.cmd("RETR 1")
        outcome["deleted"] = line.decode("ascii", "replace")
        expect_err(line, "RETR of a deleted file")
        expect_err(c.cmd("TOP 1 0"), "TOP of a deleted file")
        flagged = paths[3].rsplit(":", 1)[0] + ":2,S"
        os.rename(paths[3], flagged)
        expect_ok(c.cmd("RETR 4"), "RETR of a message another reader flagged")
        if c.read_multiline() != wire_form(self.messages[3]):
            raise AssertionError("RETR 4 after a flag rename: wrong octets")
        outcome["flag-renamed"] = "exact"
        self.arrived = b"Subject: arrived during the session\n\nnew\n"
        f.add_message("alice", self.arrived)
        if not c.cmd("STAT").startswith(b"+OK 8 "):
            raise AssertionError("STAT changed in the session")
        for n in (5, 6):
            expect_ok(c.cmd(f"RETR {n}"), f"RETR {n}")
            if c.read_multiline() != wire_form(self.messages[n - 1]):
                raise AssertionError(f"RETR {n} (untouched) wrong")
        ctx.hold_for_normal_sessions(2)
        cur = os.path.join(f.maildir("alice"), "cur")
        os.rename(cur, cur + ".away")
        try:
            # The server may still reach the files through a descriptor of cur/ it
            # holds: then the exact message is right, anything else is -ERR.
            what, alive, ok = self.retr_changed(c, 7)
            outcome["cur/ renamed away"] = what
            if not ok or not alive:
                raise AssertionError(f"RETR 7 with cur/ renamed away: {what}")
            expect_ok(c.cmd("STAT"), "STAT with cur/ renamed away")
            expect_ok(c.cmd("DELE 8"), "DELE 8 with cur/ renamed away")
            quit_reply = c.cmd("QUIT")
            outcome["QUIT"] = quit_reply[:70].decode("ascii", "replace")
            c.wait_closed()
        finally:
            os.rename(cur + ".away", cur)
        return quit_reply


def all_attacks():
    """Every attack at the sizes the issue names (the test may scale some down under ASan)."""
    return [Slowloris(), MegabyteLines(), Pipelined(), BadBytes(), Flood(), WrongPasswords(),
            FullDisk(), HugeMessage(), ManyMessages(), ChangedFiles()]
