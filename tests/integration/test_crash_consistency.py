"""Crash consistency of `postern serve`: SIGKILL at random instants under load, restart at once on
the same ports, and hold the maildrops to every promise the clients were given.

CrashLoop: four POP3 client threads (STAT, UIDL, LIST, RETR, DELE; sessions end with QUIT, with
RSET then QUIT, by closing, or by a TCP reset) and two LMTP client threads (TCP and the unix
socket, one to three recipients per message, sometimes an unknown one too) run against four
users. At a random instant the server is SIGKILLed; the clients see their connections die, and
the server is started again at once from the same config (same ports, same socket path, nothing
removed: a stale pid, lock or socket file would make that start fail). Then, with nothing else
running, each maildrop is checked on disk and through a fresh login against a ledger of what the
clients were told:
  - every message acknowledged with an LMTP 250 is present, byte for byte as sent plus the
    Return-Path and Delivered-To lines, unless an acknowledged QUIT deleted it;
  - a message whose final dot never left the client never appears; one whose dot left but whose
    250 never came is in doubt once, and the first check after the kill settles it for good;
  - every deletion acknowledged by a QUIT's +OK stays done; DELEs of a dropped or RSET session
    change nothing; a QUIT whose answer was lost is in doubt until the next check;
  - a message a session has listed (UIDL) never disappears except by such a QUIT, and no later
    session lists one that a QUIT deleted (checked live, by every session, and after each kill);
  - new/ and cur/ hold complete messages from the ledger only (or dot-files); what a killed
    delivery left in tmp/ is never listed;
  - STAT, UIDL and LIST of the fresh login match the disk, RETR matches the ledger, and the index
    (<maildir>/postern-index) afterwards matches cur/. At some kills the index is damaged on
    purpose first (cut short, zero-filled, garbage, emptied, removed, an old copy put back);
  - the first login after the restart is not refused with [IN-USE], or the refusal clears within
    LOCK_BOUND seconds (flock dies with its holder, so none is expected at all).
A violation seen by a client thread in the middle of the load (a RETR that differs from what was
delivered, a listed message missing from a later listing, a connection dropped before the kill)
fails the test too.

Randomness: one seed (printed; POSTERN_CRASH_SEED replays it) drives the kill delays, the index
damage and every client's choices. Thread interleaving is not reproducible, so a replay kills at
similar, not identical, instants. POSTERN_CRASH_KILLS sets the number of kills (default 200).
Under the sanitizer build (POSTERN_SANITIZED=1) messages stay under 40 KB and the kill delays
are longer, with the same number of kills.

ForegroundAndRestart and StaleLocks hold the server to the rules about its process, its ports
and its lock files.
"""

import collections
import hashlib
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
import unittest

from postern_harness import (SOCKET_TIMEOUT, ConnectionClosed, LmtpLine, Pop3Line, ServerFixture,
                             TestCertificates, free_port, lmtp_data, parse_multiline_pairs,
                             require_postern, tls_config_text, wire_form)

SEED = int(os.environ.get("POSTERN_CRASH_SEED") or random.SystemRandom().randrange(1, 10**9))
KILLS = int(os.environ.get("POSTERN_CRASH_KILLS") or 200)
SANITIZED = os.environ.get("POSTERN_SANITIZED", "0").upper() in ("1", "ON", "TRUE")

# The documented bound (docs/reliability.md): a login refused with [IN-USE] because of a dead
# holder must succeed within this many seconds. With flock it is zero; the loop measures it.
LOCK_BOUND = 30.0

USERS = {"ann": "ann-secret", "ben": "ben-secret", "cat": "cat-secret", "dan": "dan-secret"}
USER_NAMES = sorted(USERS)
DOMAIN = "example.org"
SENDERS = ["sender@example.net", "list-bounces@example.net", ""]  # "" is the null sender
POP3_WORKERS = 4
LMTP_WORKERS = 2
# Kill delays in seconds after the load starts: from just after the first connections to well
# into the steady state, where mailboxes hold dozens of messages.
MAX_DELAY = 1.2 if SANITIZED else 0.8
CORRUPT_INDEX_RATE = 0.2
# Now and then the maildrops are left alone for longer than the index's one-second settling time
# before the check, so that its login records cur/'s stamp and later logins take the fast path
# (the index adopted without listing cur/).
QUIET_RATE = 0.05
JOIN_TIMEOUT = 60.0

TOKEN_RX = re.compile(rb"^Message-ID: <([0-9a-z-]+)@crash\.example>\r?$", re.M)
INDEX_HEADER_RX = re.compile(rb"postern-maildir-index 1 (\d+) (\S+)")
TEXT_TABLE = bytes((b"abcdefghijklmnopqrstuvwxyz ,.-" * 9)[:256])


# ---------------------------------------------------------------------------------------------
# Messages


def make_message(rng, token, big_allowed):
    """A message in LF form with a final newline: Message-ID carries the token; the body has dot
    lines, "From " lines and empty lines. Mostly small; some 3-40 KB; a few 100-300 KB so that
    kills land in the middle of DATA and of RETR."""
    roll = rng.random()
    if roll < 0.85:
        size = rng.randint(100, 3000)
    elif roll < 0.97 or not big_allowed:
        size = rng.randint(3000, 40000)
    else:
        size = rng.randint(100_000, 300_000)
    head = (f"From: Crash Test <crash@example.net>\nTo: undisclosed-recipients:;\n"
            f"Subject: crash test {token}\nMessage-ID: <{token}@crash.example>\n\n").encode()
    body = bytearray()
    while len(body) < size:
        roll = rng.random()
        if roll < 0.02:
            line = b"."
        elif roll < 0.04:
            line = b".."
        elif roll < 0.06:
            line = b"From the top"
        elif roll < 0.08:
            line = b""
        else:
            line = rng.randbytes(rng.randint(1, 100)).translate(TEXT_TABLE)
            if roll < 0.12:
                line = b"." + line
        body += line + b"\n"
    return head + bytes(body)


def stored_form(sender, address, message):
    """The file LMTP must leave in the maildir (tests/integration/test_lmtp.py shows the form)."""
    return f"Return-Path: <{sender}>\nDelivered-To: {address}\n".encode() + message


def uidl_of(file_name):
    """The UIDL postern gives a file (src/store/uidl.cpp): its unique name (before ':') when that
    is 1-70 printable characters, else the BLAKE2b-256 hex digest of it."""
    unique = file_name.split(":", 1)[0]
    if 1 <= len(unique) <= 70 and all(0x21 <= ord(ch) <= 0x7E for ch in unique):
        return unique
    return hashlib.blake2b(unique.encode(), digest_size=32).hexdigest()


def crlf_size(data):
    return len(wire_form(data))


# ---------------------------------------------------------------------------------------------
# The ledger: what the clients were told


PARTIAL = "partial"  # the final dot never left: must never appear
SENT = "sent"        # the final dot left, no 250 came: in doubt until the next check
ACKED = "acked"      # 250 for this recipient: must be there until an acknowledged QUIT
FOUND = "found"      # was in doubt and turned up (or was listed): as ACKED from then on
NEVER = "never"      # was in doubt and absent after the kill: must never turn up


class Ledger:
    """Shared by the client threads and the checker, under one lock.

    Messages are keyed (user, token). Per user, by UIDL: seen (listed by some session and not
    deleted since), deleting (DELE'd and QUIT sent, answer not yet in: uidl -> QUIT id), deleted
    (the QUIT got +OK), gone (in doubt, then absent at a check). uidl_token maps the UIDLs whose
    content a session or a check has read; open_keys holds per user the keys a check must still
    look at (not yet deleted, not settled as never delivered), so that a long run stays linear."""

    def __init__(self):
        self.lock = threading.Lock()
        self.expected = {}
        self.state = {}
        self.token_uidl = {}
        self.uidl_token = collections.defaultdict(dict)
        self.seen = collections.defaultdict(set)
        self.deleting = collections.defaultdict(dict)
        self.deleted = collections.defaultdict(set)
        self.gone = collections.defaultdict(set)
        self.listed_while_deleting = collections.defaultdict(set)  # QUIT id -> uidls
        self.open_keys = collections.defaultdict(set)
        self.failures = []
        self.counts = collections.Counter()
        self._next_token = 0
        self._next_quit = 0

    def fail(self, text):
        with self.lock:
            self.failures.append(text)

    def new_token(self, cycle):
        with self.lock:
            self._next_token += 1
            return f"{SEED}-{cycle}-{self._next_token}"

    def register(self, token, copies):
        """copies: [(user, stored bytes)] for the recipients that got 250 at RCPT."""
        with self.lock:
            for user, data in copies:
                self.expected[(user, token)] = data
                self.state[(user, token)] = PARTIAL
                self.open_keys[user].add((user, token))

    def set_state(self, keys, state):
        with self.lock:
            for key in keys:
                self.state[key] = state
                self.counts[f"delivery {state}"] += 1

    # -- what a POP3 session sees -------------------------------------------------------------

    def listed(self, user, uidls, where):
        """A session listed `uidls`: everything listed before and not deleted must be among them,
        and nothing an acknowledged QUIT deleted may be."""
        with self.lock:
            missing = self.seen[user] - uidls - set(self.deleting[user])
            if missing:
                self.failures.append(f"{where}: {user}: listed by an earlier session, missing now "
                                     f"(no acknowledged QUIT deleted them): {sorted(missing)[:5]}")
            back = {u for u in uidls if u in self.deleted[user] or u in self.gone[user]}
            if back:
                self.failures.append(f"{where}: {user}: deleted, listed again: {sorted(back)[:5]}")
            for uidl in uidls & set(self.deleting[user]):
                self.listed_while_deleting[self.deleting[user][uidl]].add((user, uidl))
            self.seen[user] |= uidls
            for uidl in uidls:
                token = self.uidl_token[user].get(uidl)
                if token is not None and self.state[(user, token)] == SENT:
                    self.state[(user, token)] = FOUND

    def check_content(self, user, uidl, data, where, crlf):
        """data: a message as RETR sent it (crlf) or as stored. Returns the token or None."""
        m = TOKEN_RX.search(data)
        with self.lock:
            key = (user, m.group(1).decode()) if m else None
            if key not in self.expected:
                self.failures.append(f"{where}: {user} {uidl}: content that no client delivered "
                                     f"to this user: {data[:300]!r}")
                return None
            expected = self.expected[key]
            if crlf:
                expected = wire_form(expected)
            if data != expected:
                self.failures.append(f"{where}: {user} {uidl}: differs from what was delivered "
                                     f"({len(data)} octets, expected {len(expected)}): "
                                     f"{data[:200]!r}")
            state = self.state[key]
            if state in (PARTIAL, NEVER):
                self.failures.append(f"{where}: {user} {uidl}: message {key[1]} is {state}: its "
                                     f"delivery never completed, yet it is there")
            elif state == SENT:
                self.state[key] = FOUND
            known = self.token_uidl.get(key)
            if known is not None and known != uidl:
                self.failures.append(f"{where}: {user}: message {key[1]} changed its UIDL from "
                                     f"{known} to {uidl}")
            self.token_uidl[key] = uidl
            self.uidl_token[user][uidl] = key[1]
            return key[1]

    def size_of(self, user, uidl):
        with self.lock:
            token = self.uidl_token[user].get(uidl)
            return None if token is None else crlf_size(self.expected[(user, token)])

    def quitting(self, user, uidls):
        with self.lock:
            self._next_quit += 1
            for uidl in uidls:
                self.deleting[user][uidl] = self._next_quit
            return self._next_quit

    def quit_answered(self, user, quit_id, uidls, reply, where):
        with self.lock:
            if not reply.startswith(b"+OK"):
                self.failures.append(f"{where}: {user}: QUIT answered {reply!r}")
                return
            for uidl in uidls:
                self.deleting[user].pop(uidl, None)
            self.deleted[user] |= set(uidls)
            self.seen[user] -= set(uidls)
            self.counts["deletions acknowledged"] += len(uidls)
            late = self.listed_while_deleting.pop(quit_id, set())
            if late:
                self.failures.append(f"{where}: {user}: a later session listed {sorted(late)[:5]} "
                                     f"which this QUIT deleted and acknowledged")


# ---------------------------------------------------------------------------------------------
# Processes and lock files


def proc_stat(pid):
    """(state, ppid, pgrp, session) of a process from /proc, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3])


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None and st[1] == pid:
                out.append(int(name))
    return out


def processes_serving(config_file):
    """PIDs of the processes whose command line names config_file (postern serve --config ...)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if config_file.encode() in argv and b"serve" in argv:
            out.append(int(name))
    return sorted(out)


# A process that opens (creating) a lock file and, per mode, flocks it and writes its PID, says
# "ready", and waits for stdin to close or for SIGKILL. "fork" also leaves a child that shares the
# open file (and so the flock) and lives as long as stdin is open.
LOCK_HOLDER = r'''
import fcntl, os, sys
path, mode = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
if mode != "create":
    fcntl.flock(fd, fcntl.LOCK_EX)
if mode in ("lock-pid", "fork"):
    os.write(fd, b"%d\n" % os.getpid())
if mode == "fork" and os.fork() == 0:
    sys.stdout.write("child %d\n" % os.getpid())
    sys.stdout.flush()
    sys.stdin.read()
    os._exit(0)
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
'''


def connect_refused(port=None, path=None):
    if path is not None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = path
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        target = ("127.0.0.1", port)
    s.settimeout(SOCKET_TIMEOUT)
    try:
        s.connect(target)
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False


def first_login(port, user, password, context=None):
    """One connection, USER/PASS, no retry: returns (client, reply to PASS)."""
    c = Pop3Line(port)
    if context is not None:
        c.sock = context.wrap_socket(c.sock, server_hostname="localhost")
    c.read_greeting()
    return c, c.login(user, password)


def login_within_bound(port, user, password):
    """A logged-in Pop3Line; [IN-USE] is retried every 0.1 s until LOCK_BOUND, which fails.
    Returns (client, seconds waited for the lock: 0 when the first attempt succeeded)."""
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        c, r = first_login(port, user, password)
        if r.startswith(b"+OK"):
            return c, (0.0 if attempts == 1 else time.monotonic() - started)
        c.close()
        waited = time.monotonic() - started
        if b"[IN-USE]" not in r:
            raise AssertionError(f"login as {user} failed: {r!r}")
        if waited > LOCK_BOUND:
            raise AssertionError(f"login as {user} still refused with [IN-USE] after {waited:.1f}s "
                                 f"(bound {LOCK_BOUND}s): {r!r}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# The kill loop


class SessionAbandoned(Exception):
    """A client thread met a violation (already recorded) and drops that session."""


class CrashLoop(unittest.TestCase):

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture(users=USERS)
        self.addCleanup(self.server.cleanup)
        self.server.start(lmtp=[{}, {"address": self.server.lmtp_socket}])
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.workers = []
        self.kill_started = None
        self.cycle = 0
        self.stats = collections.Counter()
        self.max_lock_wait = 0.0
        self.index_copies = collections.defaultdict(list)  # user -> index texts, oldest first
        self.verified = collections.defaultdict(set)  # user -> uidls a check has RETRieved
        self.addCleanup(self.stop_workload)

    # -- the load -----------------------------------------------------------------------------

    def start_workload(self):
        self.stop.clear()
        self.kill_started = None
        self.workers = []
        for kind, count in (("pop3", POP3_WORKERS), ("lmtp", LMTP_WORKERS)):
            for i in range(count):
                rng = random.Random(f"{SEED}-{self.cycle}-{kind}-{i}")
                t = threading.Thread(target=self.worker, args=(kind, i, rng), daemon=True)
                t.start()
                self.workers.append(t)

    def stop_workload(self):
        self.stop.set()
        for t in self.workers:
            t.join(JOIN_TIMEOUT)
        alive = [t.name for t in self.workers if t.is_alive()]
        self.workers = []
        self.assertEqual(alive, [], "client threads did not stop after the kill")

    def worker(self, kind, i, rng):
        step = self.pop3_session if kind == "pop3" else self.lmtp_connection
        n = 0
        while not self.stop.is_set() and n < 100_000:
            n += 1
            where = f"seed {SEED} kill {self.cycle} {kind}{i}.{n}"
            try:
                step(rng, where)
            except SessionAbandoned:
                pass
            except socket.timeout:
                self.ledger.fail(f"{where}: no answer within {SOCKET_TIMEOUT}s")
                return
            except (OSError, ConnectionClosed) as e:
                if self.kill_started is None:
                    self.ledger.fail(f"{where}: connection failed before the kill: {e!r}")
                    return
                time.sleep(0.005)  # the server is dead: wait for stop
            except Exception:
                self.ledger.fail(f"{where}: {traceback.format_exc()}")
                return

    def expect(self, cond, where, what):
        if not cond:
            self.ledger.fail(f"{where}: {what}")
            raise SessionAbandoned()  # ends the session, not the thread

    def pop3_session(self, rng, where):
        user = rng.choice(USER_NAMES)
        c = Pop3Line(self.server.port)
        try:
            c.read_greeting()
            r = c.login(user, USERS[user])
            if b"[IN-USE]" in r:
                self.count("pop3 logins refused [IN-USE] under load")
                time.sleep(0.01)
                return
            self.expect(r.startswith(b"+OK"), where, f"login as {user}: {r!r}")
            self.count("pop3 sessions")
            r = c.cmd("STAT")
            self.expect(r.startswith(b"+OK "), where, f"STAT: {r!r}")
            count = int(r.split()[1])
            r = c.cmd("UIDL")
            self.expect(r.startswith(b"+OK"), where, f"UIDL: {r!r}")
            uidls = dict((n, u.decode()) for n, u in parse_multiline_pairs(c.read_multiline()))
            self.expect(sorted(uidls) == list(range(1, count + 1)), where,
                        f"UIDL numbers {sorted(uidls)[:10]} for STAT {count}")
            self.ledger.listed(user, set(uidls.values()), where)
            if rng.random() < 0.3:
                r = c.cmd("LIST")
                self.expect(r.startswith(b"+OK"), where, f"LIST: {r!r}")
                for n, size in parse_multiline_pairs(c.read_multiline()):
                    want = self.ledger.size_of(user, uidls.get(n))
                    self.expect(want is None or int(size) == want, where,
                                f"LIST {n} ({uidls.get(n)}) says {size}, the message has {want}")
            # Read a few (more when the maildrop is full) and delete most of what was read.
            wanted = rng.choice((0, 1, 2, 3, 4)) + (count // 10)
            pending = []
            for n in rng.sample(range(1, count + 1), min(count, wanted)):
                r = c.cmd(f"RETR {n}")
                self.expect(r.startswith(b"+OK"), where, f"RETR {n} ({uidls[n]}): {r!r}")
                token = self.ledger.check_content(user, uidls[n], c.read_multiline(), where, True)
                self.count("pop3 RETR")
                if token is not None and rng.random() < 0.75:
                    r = c.cmd(f"DELE {n}")
                    self.expect(r.startswith(b"+OK"), where, f"DELE {n}: {r!r}")
                    pending.append(uidls[n])
            ending = rng.random()
            if ending < 0.55:
                quit_id = self.ledger.quitting(user, pending)
                self.count("pop3 QUIT sent")
                c.send(b"QUIT\r\n")
                r = c.read_line()
                self.ledger.quit_answered(user, quit_id, pending, r, where)
            elif ending < 0.75:
                self.expect(c.cmd("RSET").startswith(b"+OK"), where, "RSET")
                r = c.cmd("QUIT")
                self.expect(r.startswith(b"+OK"), where, f"QUIT after RSET: {r!r}")
                self.count("pop3 RSET + QUIT")
            elif ending < 0.9:
                self.count("pop3 dropped")
            else:
                c.abort()
                self.count("pop3 reset")
        finally:
            c.close()

    def lmtp_connection(self, rng, where):
        unix = rng.random() < 0.4
        c = LmtpLine(path=self.server.lmtp_socket) if unix else LmtpLine(port=self.server.lmtp_port)
        try:
            g = c.read_greeting()
            self.expect(g.startswith(b"220 "), where, f"LMTP greeting {g!r}")
            self.expect(c.lhlo()[-1].startswith(b"250 "), where, "LHLO")
            for _ in range(rng.randint(1, 4)):
                self.lmtp_transaction(c, rng, where)
            if rng.random() < 0.7:
                c.cmd("QUIT")
        finally:
            c.close()

    def lmtp_transaction(self, c, rng, where):
        users = rng.sample(USER_NAMES, rng.choice((1, 1, 2, 3)))
        rcpts = [(u, u if rng.random() < 0.5 else f"{u}@{DOMAIN}") for u in users]
        if rng.random() < 0.15:
            rcpts.insert(rng.randrange(len(rcpts) + 1), (None, f"nobody@{DOMAIN}"))
        sender = rng.choice(SENDERS)
        token = self.ledger.new_token(self.cycle)
        message = make_message(rng, token, big_allowed=not SANITIZED)
        batch = f"MAIL FROM:<{sender}>\r\n".encode()
        batch += b"".join(f"RCPT TO:<{a}>\r\n".encode() for _, a in rcpts) + b"DATA\r\n"
        c.send(batch)
        r = c.read_reply()[-1]
        self.expect(r.startswith(b"250 "), where, f"MAIL: {r!r}")
        for (user, address), r in zip(rcpts, c.read_replies(len(rcpts))):
            want = b"250 2.1.5" if user else b"550 5.1.1"
            self.expect(r.startswith(want), where, f"RCPT {address}: {r!r}")
        r = c.read_reply()[-1]
        self.expect(r.startswith(b"354"), where, f"DATA: {r!r}")
        accepted = [(u, a) for u, a in rcpts if u]
        keys = [(u, token) for u, _ in accepted]
        self.ledger.register(token, [(u, stored_form(sender, a, message)) for u, a in accepted])
        payload = lmtp_data(message)
        assert payload.endswith(b"\r\n.\r\n")
        c.send(payload[:-3])
        self.ledger.set_state(keys, SENT)  # from here the server may have it all
        c.send(payload[-3:])
        for (user, address) in accepted:
            r = c.read_reply()[-1]
            if r == f"250 2.0.0 <{address}> delivered".encode():
                self.ledger.set_state([(user, token)], ACKED)
            else:
                self.ledger.fail(f"{where}: delivery of {token} to {address}: {r!r}")

    # -- the loop -----------------------------------------------------------------------------

    def test_sigkill_under_load(self):
        print(f"\ncrash test seed {SEED} (replay with POSTERN_CRASH_SEED={SEED}), {KILLS} kills"
              f"{', sanitizer build' if SANITIZED else ''}", file=sys.stderr, flush=True)
        started = time.monotonic()
        for kill in range(1, KILLS + 1):
            self.cycle = kill
            rng = random.Random(f"{SEED}-kill-{kill}")
            self.start_workload()
            delay = rng.uniform(0.02, MAX_DELAY) if rng.random() < 0.7 else rng.uniform(0, 0.1)
            time.sleep(delay)
            self.kill_started = time.monotonic()
            self.server.kill()  # SIGKILL by PID, reaped
            self.stop_workload()
            where = f"seed {SEED} kill {kill}"
            self.assert_no_failures(where)
            if rng.random() < CORRUPT_INDEX_RATE:
                self.damage_index(rng, where)
            self.server.respawn()  # same ports and socket path, nothing cleaned up
            quiet = rng.random() < QUIET_RATE
            if quiet:
                time.sleep(1.5)
            self.check_all(where, final=False)
            if quiet:
                self.check_all(where + " (index fast path)", final=False)
        self.start_workload()  # one more stretch of load, stopped cleanly this time
        time.sleep(0.3)
        self.stop_workload()
        self.assert_no_failures(f"seed {SEED} after the last kill")
        self.check_all(f"seed {SEED} final", final=True)
        self.assertEqual(self.server.stop(), 0, "SIGTERM after the loop")
        for user in USER_NAMES:
            tmp = os.path.join(self.server.maildir(user), "tmp")
            self.stats["tmp/ leftovers at the end (all users)"] += len(os.listdir(tmp))
        self.report(time.monotonic() - started)

    def count(self, what):
        with self.ledger.lock:
            self.stats[what] += 1

    def assert_no_failures(self, where):
        with self.ledger.lock:
            failures = list(self.ledger.failures)
        if failures:
            self.fail(f"{where}: {len(failures)} violation(s); replay with "
                      f"POSTERN_CRASH_SEED={SEED}:\n" + "\n".join(failures[:20])
                      + "\nserver log (tail):\n" + self.server.log_text()[-3000:])

    def report(self, seconds):
        c = collections.Counter(self.stats)
        c.update(self.ledger.counts)
        lines = "\n  ".join(f"{k}: {v}" for k, v in sorted(c.items()))
        print(f"\ncrash test summary: {KILLS} kills survived in {seconds:.1f}s (seed {SEED}); "
              f"longest lock wait after a restart {self.max_lock_wait:.2f}s\n  {lines}",
              file=sys.stderr, flush=True)

    # -- index damage -------------------------------------------------------------------------

    def damage_index(self, rng, where):
        user = rng.choice(USER_NAMES)
        path = os.path.join(self.server.maildir(user), "postern-index")
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            text = f.read()
        mode = rng.choice(("truncate", "zero-tail", "garbage", "empty", "remove", "old-copy",
                           "stray-tmp"))
        if mode == "old-copy" and not self.index_copies[user]:
            mode = "truncate"
        if mode == "truncate":
            text = text[:rng.randrange(len(text))]
        elif mode == "zero-tail":  # what a power cut can leave of an unsynced file
            cut = rng.randrange(len(text))
            text = text[:cut] + b"\0" * (len(text) - cut)
        elif mode == "garbage":
            text = rng.randbytes(rng.randint(1, 4096))
        elif mode == "empty":
            text = b""
        elif mode == "old-copy":
            text = rng.choice(self.index_copies[user])
        if mode == "remove":
            os.unlink(path)
        elif mode == "stray-tmp":
            with open(path + ".tmp", "wb") as f:
                f.write(b"postern-maildir-index 1 99 -\n12 half-writ")
        else:
            with open(path, "wb") as f:
                f.write(text)
        self.count(f"index damaged: {mode}")

    # -- checks after a restart ---------------------------------------------------------------

    def check_all(self, where, final):
        for user in USER_NAMES:
            on_disk = self.check_disk(user, where)
            self.assert_no_failures(where)
            self.check_login(user, on_disk, where, final)
            self.check_index(user, where)
        self.assert_no_failures(where)

    def check_disk(self, user, where):
        """Every file in new/ and cur/ against the ledger; then the ledger against the files.
        Returns {uidl: stored bytes}."""
        md = self.server.maildir(user)
        led = self.ledger
        on_disk = {}
        tokens = collections.Counter()
        with led.lock:
            in_doubt = [k for k in led.open_keys[user] if led.state[k] == SENT]
        for sub in ("new", "cur"):
            d = os.path.join(md, sub)
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                path = os.path.join(d, name)
                if name.startswith("."):
                    self.count("dot-files in new/ or cur/")
                    continue
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode):
                    led.fail(f"{where}: {user}: {sub}/{name} is not a regular file")
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                uidl = uidl_of(name)
                token = led.check_content(user, uidl, data, where, crlf=False)
                if uidl in on_disk:
                    led.fail(f"{where}: {user}: two files with UIDL {uidl}")
                on_disk[uidl] = data
                tokens[token] += 1
        twice = [t for t, n in tokens.items() if n > 1]
        if twice:
            led.fail(f"{where}: {user}: delivered once, stored twice: {twice[:5]}")
        tmp = os.path.join(md, "tmp")
        leftovers = set(os.listdir(tmp)) if os.path.isdir(tmp) else set()
        with self.ledger.lock:
            self.stats["tmp/ leftovers (max)"] = max(self.stats["tmp/ leftovers (max)"],
                                                     len(leftovers))
        listed_tmp = {uidl_of(n) for n in leftovers} & set(on_disk)
        if listed_tmp:
            led.fail(f"{where}: {user}: a name in tmp/ is also in new/ or cur/: {listed_tmp}")
        present_tokens = set(tokens)
        with led.lock:
            # QUITs whose answer was lost: now decided, message by message (RFC 1939 allows a
            # QUIT cut short to have removed some of its messages).
            outcomes = collections.defaultdict(set)
            for uidl, quit_id in led.deleting[user].items():
                outcomes[quit_id].add(uidl in on_disk)
                if uidl in on_disk:
                    led.counts["in-doubt QUIT: message kept"] += 1
                else:
                    led.gone[user].add(uidl)
                    led.seen[user].discard(uidl)
                    led.counts["in-doubt QUIT: message deleted"] += 1
            split = sum(len(o) > 1 for o in outcomes.values())
            led.counts["in-doubt QUIT: partly applied"] += split
            led.deleting[user].clear()
            led.listed_while_deleting.clear()
            for key in list(led.open_keys[user]):
                token = key[1]
                state = led.state[key]
                there = token in present_tokens
                uidl = led.token_uidl.get(key)
                removed = uidl is not None and (uidl in led.deleted[user] or uidl in led.gone[user])
                if state in (ACKED, FOUND) and not there:
                    if not removed:
                        led.failures.append(f"{where}: {user}: message {token} ({state}, UIDL "
                                            f"{uidl}) is lost: no acknowledged QUIT deleted it")
                elif state in (SENT, PARTIAL):  # check_content made the present SENT ones FOUND
                    led.state[key] = NEVER  # and flags any NEVER one that ever turns up
                if led.state[key] == NEVER or (removed and not there):
                    led.open_keys[user].discard(key)
            for key in in_doubt:
                stored = led.state[key] == FOUND
                led.counts[f"in-doubt delivery: {'stored' if stored else 'not stored'}"] += 1
            for uidl in led.deleted[user] & set(on_disk):
                led.failures.append(f"{where}: {user}: {uidl} came back after its deletion "
                                    f"was acknowledged")
            for uidl in led.gone[user] & set(on_disk):
                led.failures.append(f"{where}: {user}: {uidl} came back after it was gone")
            lost = led.seen[user] - set(on_disk)
            if lost:
                led.failures.append(f"{where}: {user}: listed by a session, gone without an "
                                    f"acknowledged QUIT: {sorted(lost)[:5]}")
        return on_disk

    def check_login(self, user, on_disk, where, final):
        c, waited = login_within_bound(self.server.port, user, USERS[user])
        self.max_lock_wait = max(self.max_lock_wait, waited)
        if waited > 0:
            self.count("logins after a restart that met [IN-USE]")
        try:
            r = c.cmd("STAT")
            self.assertEqual(r, f"+OK {len(on_disk)} "
                                f"{sum(crlf_size(d) for d in on_disk.values())}".encode(),
                             f"{where}: {user}: STAT after the restart")
            self.assertTrue(c.cmd("UIDL").startswith(b"+OK"))
            uidls = dict((n, u.decode()) for n, u in parse_multiline_pairs(c.read_multiline()))
            self.assertEqual(sorted(uidls.values()), sorted(on_disk),
                             f"{where}: {user}: UIDL after the restart against the disk")
            self.assertTrue(c.cmd("LIST").startswith(b"+OK"))
            sizes = dict(parse_multiline_pairs(c.read_multiline()))
            for n, uidl in uidls.items():
                self.assertEqual(int(sizes[n]), crlf_size(on_disk[uidl]),
                                 f"{where}: {user}: LIST {n} ({uidl})")
            self.ledger.listed(user, set(uidls.values()), where + " check")
            todo = [n for n, u in uidls.items() if u not in self.verified[user]]
            for n in (todo if final else todo[:10]):
                self.assertTrue(c.cmd(f"RETR {n}").startswith(b"+OK"))
                self.assertEqual(c.read_multiline(), wire_form(on_disk[uidls[n]]),
                                 f"{where}: {user}: RETR {n} ({uidls[n]}) against the disk")
                self.verified[user].add(uidls[n])
            self.assertEqual(c.cmd("QUIT")[:3], b"+OK")
        finally:
            c.close()

    def check_index(self, user, where):
        """After a login the index must describe cur/ exactly, whatever it was before."""
        md = self.server.maildir(user)
        with open(os.path.join(md, "postern-index"), "rb") as f:
            text = f.read()
        lines = text.split(b"\n")
        m = INDEX_HEADER_RX.fullmatch(lines[0])
        self.assertIsNotNone(m, f"{where}: {user}: index header {lines[0][:100]!r}")
        self.assertEqual(lines[-1], b"", f"{where}: {user}: index does not end in a newline")
        entries = [line.split(b" ", 1) for line in lines[1:-1]]
        self.assertEqual(int(m.group(1)), len(entries), f"{where}: {user}: index count")
        self.count("index after a check login: " +
                   ("no stamp" if m.group(2) == b"-" else "cur/ stamp recorded"))
        cur = os.path.join(md, "cur")
        names = {n for n in os.listdir(cur) if not n.startswith(".")}
        self.assertEqual(os.listdir(os.path.join(md, "new")), [],
                         f"{where}: {user}: new/ after a login")
        self.assertEqual(sorted(e[1].decode() for e in entries), sorted(names),
                         f"{where}: {user}: index entries against cur/")
        for size, name in entries:
            with open(os.path.join(cur, name.decode()), "rb") as f:
                self.assertEqual(int(size), crlf_size(f.read()), f"{where}: {user}: index {name}")
        copies = self.index_copies[user]
        copies.append(text)
        del copies[:-8]


# ---------------------------------------------------------------------------------------------
# The rules about the process, its ports and its files


class ForegroundAndRestart(unittest.TestCase):
    """`postern serve` is the process we started; after SIGKILL it comes back on every port and
    socket at once, with a live session, a TLS session and two half-sent LMTP messages lost."""

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture()
        self.addCleanup(self.server.cleanup)
        self.certs = TestCertificates(os.path.join(self.server.dir, "tls"))
        cert, key = self.certs.issue("server")
        self.tls_port = free_port()
        self.tls_pattern = rf"listening on 127\.0\.0\.1:{self.tls_port} tls=implicit"
        self.server.start(lmtp=[{}, {"address": self.server.lmtp_socket}],
                          extra=tls_config_text(cert, key, implicit_port=self.tls_port))
        self.server.wait_for_log(self.tls_pattern)
        self.server.add_message("alice", b"Subject: keep me\n\nstill here\n")
        self.clients = []
        self.addCleanup(lambda: [c.close() for c in self.clients])

    def keep(self, c):
        self.clients.append(c)
        return c

    def half_sent_lmtp(self, **where):
        c = self.keep(self.server.lmtp_connect(**where))
        c.lhlo()
        c.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<carol>\r\nDATA\r\n")
        self.assertEqual([r[:3] for r in c.read_replies(3)], [b"250", b"250", b"354"])
        c.send(b"Subject: half\r\n\r\nnever finished\r\n")

    def test_foreground_and_restart_after_sigkill(self):
        context = self.certs.client_context()
        for round_ in range(1, 4):
            proc = self.server.process
            pid = proc.pid
            self.assertIsNone(proc.poll(), "postern serve exited: it must stay in the foreground")
            state = proc_stat(pid)
            self.assertEqual(state[3], os.getsid(0), "postern serve started a session of its own "
                             "(setsid): it must not detach")
            self.assertEqual(children_of(pid), [], "postern serve has child processes")
            self.assertEqual(processes_serving(self.server.config_file), [pid],
                             "another process serves this config")
            # What a crash interrupts: a session holding alice's lock with a DELE, a TLS
            # session, a message half sent over each LMTP listener.
            pop, r = first_login(self.server.port, "alice", self.server.users["alice"])
            self.keep(pop)
            self.assertEqual(r[:3], b"+OK", r)
            self.assertEqual(pop.cmd("DELE 1")[:3], b"+OK")
            tls, r = first_login(self.tls_port, "bob", self.server.users["bob"], context)
            self.keep(tls)
            self.assertEqual(r[:3], b"+OK", r)
            self.half_sent_lmtp()
            self.half_sent_lmtp(path=self.server.lmtp_socket)

            self.server.kill()  # SIGKILL by PID
            self.assertTrue(stat.S_ISSOCK(os.lstat(self.server.lmtp_socket).st_mode),
                            "a killed server cannot remove its socket file: it must be there")
            for port in (self.server.port, self.tls_port, self.server.lmtp_port):
                self.assertTrue(connect_refused(port=port),
                                f"port {port} still answers after the server was killed")
            self.assertTrue(connect_refused(path=self.server.lmtp_socket))
            for c in self.clients:
                c.close()

            self.server.respawn(extra_patterns=[self.tls_pattern])  # at once, no clean-up
            c, r = first_login(self.server.port, "alice", self.server.users["alice"])
            self.keep(c)
            self.assertEqual(r[:3], b"+OK", f"round {round_}: first login after the restart")
            self.assertEqual(c.cmd("STAT")[:5], b"+OK 1", "the DELE of the killed session")
            self.assertEqual(c.cmd("QUIT")[:3], b"+OK")
            tls, r = first_login(self.tls_port, "bob", self.server.users["bob"], context)
            self.keep(tls)
            self.assertEqual(r[:3], b"+OK", f"round {round_}: POP3S after the restart")
            self.assertEqual(tls.cmd("QUIT")[:3], b"+OK")
            for where in ({}, {"path": self.server.lmtp_socket}):
                r = self.server.lmtp_deliver("s@example.net", ["carol"],
                                             f"Subject: round {round_}\r\n\r\nx\r\n".encode(),
                                             **where)
                self.assertEqual(r["results"], [b"250 2.0.0 <carol> delivered"], where)
            # Only the finished deliveries are there; the half-sent ones left nothing visible.
            self.assertEqual(len(self.server.message_files("carol")), 2 * round_)


class StaleLocks(unittest.TestCase):
    """The maildrop lock is flock(2) on <maildir>/postern.lock: only a live holder blocks a login;
    whatever a dead one left in the file (nothing, its PID, garbage, another live process's PID)
    blocks nothing."""

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture()
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.server.add_message("alice", b"Subject: one\n\nbody\n")
        self.lock_file = os.path.join(self.server.maildir("alice"), "postern.lock")
        self.holders = []
        self.addCleanup(self.kill_holders)

    def kill_holders(self):
        for p in self.holders:
            if p.poll() is None:
                p.kill()  # by PID: only processes this test started
            p.wait()
            for f in (p.stdin, p.stdout):
                f.close()

    def holder(self, mode):
        p = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, self.lock_file, mode],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.holders.append(p)
        lines = [p.stdout.readline() for _ in range(2 if mode == "fork" else 1)]
        self.assertIn(b"ready\n", lines, f"lock holder ({mode}) did not start")
        child = [int(l.split()[1]) for l in lines if l.startswith(b"child ")]
        return p, (child[0] if child else None)

    def assert_login_at_once(self, what):
        c, r = first_login(self.server.port, "alice", self.server.users["alice"])
        try:
            self.assertEqual(r[:3], b"+OK", f"{what}: first login: {r!r}")
            self.assertEqual(c.cmd("STAT")[:5], b"+OK 1", what)
            self.assertEqual(c.cmd("QUIT")[:3], b"+OK", what)
        finally:
            c.close()

    def assert_in_use(self, what):
        c, r = first_login(self.server.port, "alice", self.server.users["alice"])
        c.close()
        self.assertTrue(r.startswith(b"-ERR [IN-USE]"), f"{what}: expected [IN-USE], got {r!r}")

    def test_holder_killed_at_any_step_leaves_no_lock(self):
        # "create": killed between creating the file and locking or writing it; "lock": after
        # locking, before writing its PID; "lock-pid": with its PID written.
        for mode in ("create", "lock", "lock-pid"):
            p, _ = self.holder(mode)
            if mode != "create":
                self.assert_in_use(f"{mode}, holder alive")
            p.kill()
            p.wait()
            self.assertTrue(os.path.exists(self.lock_file))
            self.assert_login_at_once(f"{mode}, holder killed")

    def test_whatever_the_lock_file_says_does_not_block(self):
        sleeper = subprocess.Popen(["sleep", "600"])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        dead = subprocess.Popen(["true"])
        dead.wait()
        contents = {
            "empty": b"",
            "garbage": b"\xff\xfe garbage \x00 not a pid\n" * 10,
            "PID of a dead process": b"%d\n" % dead.pid,
            "PID 1 (alive, not postern)": b"1\n",
            "reused PID (a live sleep)": b"%d\n" % sleeper.pid,
            "PID of the server itself": b"%d\n" % self.server.process.pid,
            "absurd PID": b"99999999999999999999\n",
        }
        for what, text in contents.items():
            with open(self.lock_file, "wb") as f:
                f.write(text)
            self.assert_login_at_once(what)

    def test_live_holder_blocks_until_it_dies(self):
        p, _ = self.holder("lock-pid")
        self.assert_in_use("holder alive")
        self.assert_in_use("holder still alive")
        p.kill()
        p.wait()
        self.assert_login_at_once("holder killed")
        # The lock belongs to the open file, not to a PID: a child that inherited it keeps it
        # after the parent that wrote its PID is dead, and releases it when it goes too.
        p, child = self.holder("fork")
        self.assertIsNotNone(child)
        p.kill()
        p.wait()
        self.assert_in_use("parent dead, child holding the inherited lock")
        # A process this test started (through the holder). Not our child, so its death cannot
        # be waited for: the login may meet [IN-USE] until it is gone, within the bound.
        os.kill(child, signal.SIGKILL)
        c, _waited = login_within_bound(self.server.port, "alice", self.server.users["alice"])
        self.assertEqual(c.cmd("QUIT")[:3], b"+OK")
        c.close()


if __name__ == "__main__":
    unittest.main()
