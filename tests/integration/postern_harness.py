"""Shared pieces of the integration suite: the postern binary, a server in a temp dir, a raw client.

Every test module imports this. Nothing here knows about a particular test; it only starts
processes (always killed by PID), writes fixtures and speaks POP3 lines.
"""

import json
import os
import poplib
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# Generous: the suite must pass on a loaded 2-core machine. Nothing asserts on durations.
START_TIMEOUT = 20.0
SOCKET_TIMEOUT = 30.0
PROCESS_TIMEOUT = 60.0

CRLF = b"\r\n"


def postern_bin():
    """The binary under test: $POSTERN_BIN, or ../../build/postern next to this directory."""
    path = os.environ.get("POSTERN_BIN") or os.path.join(HERE, "..", "..", "build", "postern")
    return os.path.abspath(path)


def require_postern(test):
    path = postern_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        test.fail(f"postern binary not found or not executable at {path} "
                  "(build it, or set POSTERN_BIN)")
    return path


def require_tool(test, name):
    """Clients are installed by the project's scripts: a missing one is a failure, not a skip."""
    path = shutil.which(name)
    if path is None:
        test.fail(f"required client '{name}' is not installed (PATH={os.environ.get('PATH')}); "
                  "install it with the project's setup script")
    return path


# An MDA for fetchmail: stores each message from stdin unchanged as a new numbered file in the
# folder given as its first argument.
MDA_SCRIPT = r'''
import os, sys
out_dir = sys.argv[1]
data = sys.stdin.buffer.read()
i = 0
while True:
    i += 1
    try:
        fd = os.open(os.path.join(out_dir, "%06d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        break
    except FileExistsError:
        pass
with os.fdopen(fd, "wb") as f:
    f.write(data)
'''


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Message forms


def wire_form(data):
    """The message as POP3 sees it: every bare LF becomes CRLF; a final CRLF is added if missing.

    len(wire_form(m)) is what STAT/LIST must report, and RETR must send exactly these octets
    (before dot-stuffing).
    """
    out = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def lf_form(data):
    """The wire form with CRLF turned back into LF: what an LF-maildir client writes to disk."""
    return wire_form(data).replace(b"\r\n", b"\n")


def dot_stuff(wire):
    """The exact bytes of a multi-line response body, terminator included."""
    lines = wire.split(b"\r\n")
    assert lines[-1] == b""
    stuffed = [(b"." + line) if line.startswith(b".") else line for line in lines[:-1]]
    return b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"


def top_form(wire, n_lines):
    """What TOP msg n must send: the header, the blank line, then the first n body lines."""
    sep = wire.find(b"\r\n\r\n")
    if sep < 0:  # no body separator: the whole message is header
        return wire
    head, body = wire[:sep + 4], wire[sep + 4:]
    lines = body.split(b"\r\n")[:-1]
    return head + b"".join(line + b"\r\n" for line in lines[:n_lines])


# ---------------------------------------------------------------------------------------------
# Raw client


class ConnectionClosed(Exception):
    pass


class _LineClient:
    """What the POP3 and LMTP line clients share: the socket, the receive buffer, sending, and
    waiting for the server to close. Subclasses provide read_line()."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed(f"server closed the connection (unread: {bytes(self.buf)[:200]!r})")
        self.buf += chunk

    def wait_closed(self, timeout=START_TIMEOUT):
        """Read until EOF; return the lines that came before it. Fails if EOF never comes."""
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                lines.append(self.read_line())
            except (ConnectionClosed, ConnectionResetError):
                return lines
            except socket.timeout:
                raise AssertionError(f"server did not close the connection within {timeout}s; "
                                     f"lines read: {lines!r}")
            if len(lines) > 100:
                raise AssertionError(f"server kept talking instead of closing: {lines[:5]!r}...")


class Pop3Line(_LineClient):
    """A line-level POP3 client over a plain socket: send bytes, read one CRLF line, read a
    multi-line response. Keeps its own buffer so that pipelined answers are not lost."""

    def __init__(self, port, timeout=SOCKET_TIMEOUT, source=None):
        # source: the local address to connect from, e.g. "127.0.0.2" (any 127.x reaches the
        # loopback listener), to look like a peer outside trusted_networks.
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = bytearray()
        self.greeting = None

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def abort(self):
        """Drop the connection with a TCP RST, as a crashing client would."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.close()

    def read_line(self):
        """One response line without its CRLF. A line ended by a bare LF is a protocol error."""
        start = 0
        while True:
            idx = self.buf.find(b"\n", start)
            if idx >= 0:
                break
            start = len(self.buf)
            self._fill()
        line = bytes(self.buf[:idx + 1])
        del self.buf[:idx + 1]
        if not line.endswith(b"\r\n"):
            raise AssertionError(f"response line not terminated by CRLF: {line[:200]!r}")
        return line[:-2]

    def cmd(self, line):
        """Send one command (CRLF added) and return the status line."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + CRLF)
        return self.read_line()

    def read_multiline_raw(self):
        """The raw bytes of a multi-line body up to and including the ".\\r\\n" terminator."""
        search_from = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                end = 3
                break
            idx = self.buf.find(b"\r\n.\r\n", search_from)
            if idx >= 0:
                end = idx + 5
                break
            search_from = max(0, len(self.buf) - 4)
            self._fill()
        raw = bytes(self.buf[:end])
        del self.buf[:end]
        return raw

    def read_multiline(self):
        """A multi-line body with dot-stuffing undone and CRLF line ends kept."""
        return unstuff(self.read_multiline_raw())

    def read_greeting(self):
        self.greeting = self.read_line()
        return self.greeting

    def login(self, user, password):
        """USER + PASS; returns the PASS status line (the USER one when that fails)."""
        r = self.cmd(b"USER " + _b(user))
        if not r.startswith(b"+OK"):
            return r
        return self.cmd(b"PASS " + _b(password))

def unstuff(raw):
    """Undo dot-stuffing of a raw multi-line body (terminator included)."""
    assert raw.endswith(b".\r\n"), raw[-20:]
    lines = raw.split(b"\r\n")
    # lines: [..., ".", ""]
    assert lines[-1] == b"" and lines[-2] == b"."
    out = []
    for line in lines[:-2]:
        if line.startswith(b"."):
            line = line[1:]
        out.append(line + b"\r\n")
    return b"".join(out)


def _b(s):
    return s if isinstance(s, bytes) else s.encode()


# ---------------------------------------------------------------------------------------------
# LMTP client


def lmtp_data(message):
    """What goes on the wire after DATA's 354 for `message` (bytes): bare LFs made CRLF, a final
    CRLF added if missing, lines starting with '.' dot-stuffed, and the ".\r\n" terminator."""
    return dot_stuff(wire_form(message))


class LmtpLine(_LineClient):
    """A line-level LMTP client over TCP (port) or a unix socket (path): send bytes, read whole
    replies. Keeps its own buffer, so pipelined replies are read one by one in order.

    A reply is returned as the list of its lines (bytes, CRLF removed): one line for most,
    several for LHLO. cmd() returns the last line only, e.g. b"250 2.1.5 <carol> recipient OK".
    """

    def __init__(self, port=None, path=None, timeout=SOCKET_TIMEOUT, source=None):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(path)
            except OSError:
                self.sock.close()  # no ResourceWarning when nobody listens
                raise
        else:
            self.sock = socket.create_connection(
                ("127.0.0.1", port), timeout=timeout,
                source_address=(source, 0) if source else None)
        self.buf = bytearray()
        self.greeting = None

    def read_line(self):
        while True:
            idx = self.buf.find(b"\n")
            if idx >= 0:
                break
            self._fill()
        line = bytes(self.buf[:idx + 1])
        del self.buf[:idx + 1]
        if not line.endswith(b"\r\n"):
            raise AssertionError(f"reply line not terminated by CRLF: {line[:200]!r}")
        return line[:-2]

    def read_reply(self):
        """All lines of one reply ("250-..." continuation lines, then "250 ...")."""
        lines = []
        while True:
            line = self.read_line()
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b""):
                raise AssertionError(f"malformed LMTP reply line: {line[:200]!r}")
            lines.append(line)
            if line[3:4] != b"-":
                return lines
            if len(lines) > 100:
                raise AssertionError(f"endless multi-line reply: {lines[:5]!r}")

    def read_replies(self, n):
        """The last line of each of the next n replies."""
        return [self.read_reply()[-1] for _ in range(n)]

    def read_greeting(self):
        self.greeting = self.read_reply()[-1]
        return self.greeting

    def cmd(self, line):
        """Send one command (CRLF added); return the last line of its reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + CRLF)
        return self.read_reply()[-1]

    def lhlo(self, name="relay.example.org"):
        """LHLO; returns every line of the reply (the capabilities)."""
        self.send(b"LHLO " + _b(name) + CRLF)
        return self.read_reply()

    def transaction(self, sender, recipients, message, mail_params=""):
        """One pipelined transaction: MAIL, every RCPT and DATA in a single write, then the
        message if DATA got 354. Returns a dict of reply lines (bytes):
          mail, rcpt (one per recipient), data (the 354 or the refusal),
          results (one per accepted recipient, in RCPT order; empty without 354)."""
        params = (" " + mail_params) if mail_params else ""
        batch = f"MAIL FROM:<{sender}>{params}\r\n".encode()
        batch += b"".join(b"RCPT TO:<" + _b(r) + b">\r\n" for r in recipients)
        batch += b"DATA\r\n"
        self.send(batch)
        out = {"mail": self.read_reply()[-1]}
        out["rcpt"] = self.read_replies(len(recipients))
        out["data"] = self.read_reply()[-1]
        out["results"] = []
        if out["data"].startswith(b"354"):
            self.send(lmtp_data(message))
            accepted = sum(1 for r in out["rcpt"] if r.startswith(b"250"))
            out["results"] = self.read_replies(accepted)
        return out

def parse_multiline_pairs(body):
    """LIST/UIDL body -> list of (number, value) pairs as bytes."""
    pairs = []
    for line in body.split(b"\r\n")[:-1]:
        num, _, value = line.partition(b" ")
        pairs.append((int(num), value))
    return pairs


# ---------------------------------------------------------------------------------------------
# Server fixture

DEFAULT_USERS = {
    "alice": "secret pass with spaces",
    "bob": "bob-password",
    "carol": "c4rol",
}


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


class ServerFixture:
    """One postern server in its own temp dir: passwd file, mail root, config, log capture.

    Use `fixture = ServerFixture(); test.addCleanup(fixture.cleanup)`; then `fixture.start()`.
    """

    def __init__(self, users=None, passwd_text=None, maildir_template="%u"):
        self.dir = tempfile.mkdtemp(prefix="postern-it-")
        self.users = dict(DEFAULT_USERS if users is None else users)
        # Deep enough that "../../x" from a maildir still lands inside self.dir, where the
        # traversal tests can see it.
        self.mail_root = os.path.join(self.dir, "srv", "spool", "mail")
        os.makedirs(self.mail_root)
        os.makedirs(os.path.join(self.dir, "etc"))
        self.passwd_file = os.path.join(self.dir, "etc", "users")
        self.maildir_template = os.path.join(self.mail_root, maildir_template)
        if passwd_text is None:
            passwd_text = "".join(self.passwd_line(u, p) for u, p in self.users.items())
        with open(self.passwd_file, "w", encoding="utf-8") as f:
            f.write(passwd_text)
        self.config_file = os.path.join(self.dir, "postern.toml")
        self.process = None
        self.port = None
        # LMTP (start(lmtp=...)): the TCP port of the default [[lmtp]] listener, and the path
        # lmtp="unix" listens on.
        self.lmtp_port = None
        self.lmtp_socket = os.path.join(self.dir, "lmtp.sock")
        self.log_lines = []  # stderr lines of every server started by this fixture, in order
        self.stdout_lines = []
        self._cond = threading.Condition()
        self._eof = 0
        self._threads = []
        self._msg_counter = 0
        self._started_with = {}  # the config keywords of the last start(), for respawn()

    def passwd_line(self, user, password):
        home = os.path.join(self.dir, "home", user)
        return f"{user}:{{PLAIN}}{password}:{os.getuid()}:{os.getgid()}::{home}::\n"

    # -- configuration ------------------------------------------------------------------------

    def lmtp_tables(self, lmtp):
        """The [[lmtp]] tables for start(lmtp=...): None/False none; True one on 127.0.0.1:
        lmtp_port; "unix" one on lmtp_socket; a dict one table (address defaults to the TCP
        port: give "address": fixture.lmtp_socket for the unix socket); a list several."""
        if not lmtp:
            return []
        if lmtp is True:
            lmtp = {}
        elif lmtp == "unix":
            lmtp = {"address": self.lmtp_socket}
        tables = []
        for table in (lmtp if isinstance(lmtp, (list, tuple)) else [lmtp]):
            t = {"address": f"127.0.0.1:{self.lmtp_port}"}
            t.update(table)
            tables.append(t)
        return tables

    def config_text(self, server=None, auth=None, mail=None, listen=None, extra="", lmtp=None,
                    delivery=None):
        """listen=False leaves the POP3 [[listen]] table out (an LMTP-only server); lmtp: see
        lmtp_tables(); delivery: keys of the [delivery] table."""
        srv = {"hostname": "mail.example.org", "idle_timeout": "10m", "max_bad_commands": 10,
               "threads": 2}
        srv.update(server or {})
        lst = {"address": f"127.0.0.1:{self.port}", "tls": "none"}
        lst.update(listen or {})
        if self.lmtp_port is None and lmtp:
            self.lmtp_port = free_port()
        # No brute-force penalty by default: tests that log in wrongly on purpose would wait for
        # it. test_login_security.py switches it on.
        ath = {"passwd_file": self.passwd_file, "allow_plaintext": True, "failure_delay": "0s"}
        ath.update(auth or {})
        mal = {"maildir": self.maildir_template}
        mal.update(mail or {})
        parts = []
        tables = [("[server]", srv)]
        if listen is not False:
            tables.append(("[[listen]]", lst))
        tables += [("[[lmtp]]", t) for t in self.lmtp_tables(lmtp)]
        tables += [("[auth]", ath), ("[mail]", mal)]
        if delivery:
            tables.append(("[delivery]", dict(delivery)))
        for title, table in tables:
            parts.append(title)
            parts.extend(f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None)
            parts.append("")
        return "\n".join(parts) + extra

    def write_config(self, **kw):
        if self.port is None:
            self.port = free_port()
        with open(self.config_file, "w", encoding="utf-8") as f:
            f.write(self.config_text(**kw))
        return self.config_file

    # -- process ------------------------------------------------------------------------------

    def start(self, **config):
        """Write the config and start `postern serve`; returns once it logs "listening on" for
        every listener (POP3 and LMTP)."""
        self._started_with = dict(config)
        last_error = None
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            if config.get("lmtp"):
                self.lmtp_port = free_port()
            self.write_config(**config)
            try:
                self._spawn(self._listening_patterns(config))
                return self
            except PortTaken as e:
                last_error = e
        raise AssertionError(f"could not start postern: {last_error}")

    def respawn(self, extra_patterns=()):
        """Start `postern serve` again from the config file as it stands (same ports, same socket
        paths), as after a crash: no clean-up and no retry, so a port or socket file still held
        is a failure. Waits for every listener of the last start() and each of extra_patterns
        (e.g. an implicit TLS listener added with extra=)."""
        self._spawn(self._listening_patterns(self._started_with) + list(extra_patterns))

    def _listening_patterns(self, config):
        patterns = []
        if config.get("listen") is not False:
            patterns.append(rf"listening on 127\.0\.0\.1:{self.port}\b")
        for table in self.lmtp_tables(config.get("lmtp")):
            patterns.append(rf"listening on {re.escape(table['address'])} protocol=lmtp")
        return patterns

    def _spawn(self, patterns=None):
        assert self.process is None or self.process.poll() is not None, "server already running"
        first_line = len(self.log_lines)
        self.process = subprocess.Popen(
            [postern_bin(), "serve", "--config", self.config_file],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._eof = 0
        for pipe, sink in ((self.process.stderr, self.log_lines),
                           (self.process.stdout, self.stdout_lines)):
            t = threading.Thread(target=self._reader, args=(pipe, sink), daemon=True)
            t.start()
            self._threads.append(t)
        if patterns is None:
            patterns = [rf"listening on 127\.0\.0\.1:{self.port}\b"]
        regexes = [re.compile(p) for p in patterns]
        deadline = time.monotonic() + START_TIMEOUT
        exited = timed_out = False
        with self._cond:
            while True:
                logged = self.log_lines[first_line:]
                if all(any(rx.search(l) for l in logged) for rx in regexes):
                    return
                if self.process.poll() is not None:
                    exited = True
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                self._cond.wait(min(remaining, 0.5))
        if timed_out:
            self.kill()
            raise AssertionError(f"postern serve did not log {patterns} "
                                 f"within {START_TIMEOUT}s; stderr:\n"
                                 + "\n".join(self.log_lines[first_line:]))
        self._join_readers()
        tail = "\n".join(self.log_lines[first_line:])
        if re.search(r"in use", tail, re.I):
            raise PortTaken(tail)
        raise AssertionError(f"postern serve exited with {self.process.returncode} before "
                             f"listening; stderr:\n{tail}")

    def _reader(self, pipe, sink):
        for raw in iter(pipe.readline, b""):
            with self._cond:
                sink.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof += 1
            self._cond.notify_all()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=PROCESS_TIMEOUT):
        """SIGTERM, wait; returns the exit code (SIGKILL and a failure if it hangs)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"postern did not exit within {timeout}s of SIGTERM")
        self._join_readers()
        return self.process.returncode

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # by PID: only the process this fixture started
            self.process.wait()
        self._join_readers()

    def _join_readers(self):
        for t in self._threads:
            t.join(5)
        self._threads = [t for t in self._threads if t.is_alive()]
        if not self._threads and self.process is not None and self.process.poll() is not None:
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None and not pipe.closed:
                    pipe.close()

    def restart(self, **config):
        rc = self.stop()
        assert rc == 0, f"postern exited with {rc} on SIGTERM"
        return self.start(**config)

    def cleanup(self):
        try:
            self.kill()
        finally:
            if os.environ.get("POSTERN_KEEP_TMP"):
                print(f"kept {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        self.assert_no_sanitizer_report()

    def assert_no_sanitizer_report(self):
        """Fails when a ThreadSanitizer build of postern reported a race (or any TSan warning) on
        stderr. TSan goes on after a report unless halt_on_error is set, so neither a crash nor
        the exit code would show it; cleanup() calls this, so every test using the fixture fails."""
        text = self.log_text()
        at = text.find("WARNING: ThreadSanitizer")
        if at >= 0:
            raise AssertionError("ThreadSanitizer report in postern's stderr:\n" + text[at:at + 8000])

    # -- logs -----------------------------------------------------------------------------------

    def log_text(self):
        with self._cond:
            return "\n".join(self.log_lines)

    def wait_for_log(self, pattern, timeout=START_TIMEOUT, since=0):
        """Wait until a stderr line (index >= since) matches; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.log_lines[since:]:
                    m = rx.search(line)
                    if m:
                        return m
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no log line matching {pattern!r} within {timeout}s; "
                                         f"log:\n" + "\n".join(self.log_lines[-40:]))
                self._cond.wait(min(remaining, 0.5))

    def events(self, name):
        """Log lines of the form `... NAME key=value key="quoted value" ...` as dicts."""
        rx = re.compile(rf"(?:^|\s){re.escape(name)}((?:\s+[\w.-]+=(?:\"(?:[^\"\\]|\\.)*\"|\S*))+)")
        out = []
        with self._cond:
            lines = list(self.log_lines)
        for line in lines:
            m = rx.search(line)
            if m:
                out.append(parse_kv(m.group(1)))
        return out

    def wait_for_event(self, name, timeout=START_TIMEOUT, **fields):
        """Wait for an event whose fields include `fields` (string compare)."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events(name):
                if all(ev.get(k) == str(v) for k, v in fields.items()):
                    return ev
            if time.monotonic() > deadline:
                raise AssertionError(f"no '{name}' log event with {fields} within {timeout}s; "
                                     "log:\n" + self.log_text()[-4000:])
            with self._cond:
                self._cond.wait(0.3)

    # -- mail -----------------------------------------------------------------------------------

    def maildir(self, user):
        return os.path.join(self.mail_root, user)

    def add_message(self, user, data):
        """Deliver a fixture the maildir way: write tmp/NAME, rename to new/NAME."""
        md = self.maildir(user)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        self._msg_counter += 1
        name = f"{int(time.time())}.M{self._msg_counter:06d}P{os.getpid()}.postern-test"
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(md, "new", name))
        return name

    def message_files(self, user):
        """Names of the message files in new/ and cur/ (what a deletion must remove)."""
        md = self.maildir(user)
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(md, sub)
            if os.path.isdir(d):
                out.extend(f"{sub}/{n}" for n in sorted(os.listdir(d)))
        return out

    # -- clients --------------------------------------------------------------------------------

    def connect(self, timeout=SOCKET_TIMEOUT):
        c = Pop3Line(self.port, timeout)
        c.read_greeting()
        return c

    def login(self, user="alice", password=None, timeout=SOCKET_TIMEOUT):
        """A raw client in TRANSACTION state; waits out [IN-USE] left by a dropped session."""
        password = self.users[user] if password is None else password
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            c = self.connect(timeout)
            r = c.login(user, password)
            if r.startswith(b"+OK"):
                return c
            c.close()
            if b"[IN-USE]" not in r or time.monotonic() > deadline:
                raise AssertionError(f"login as {user} failed: {r!r}")
            time.sleep(0.2)


    def lmtp_connect(self, timeout=SOCKET_TIMEOUT, path=None, source=None):
        """A raw LmtpLine on the [[lmtp]] TCP port (or the unix socket `path`), greeting read."""
        c = LmtpLine(port=None if path else self.lmtp_port, path=path, timeout=timeout,
                     source=source)
        c.read_greeting()
        return c

    def lmtp_deliver(self, sender, recipients, message, path=None):
        """Connect, LHLO, one transaction (see LmtpLine.transaction), QUIT; returns the dict of
        replies. Asserts only that the greeting and LHLO succeed."""
        c = self.lmtp_connect(path=path)
        try:
            lhlo = c.lhlo()
            assert lhlo[-1].startswith(b"250"), lhlo
            result = c.transaction(sender, recipients, message)
            c.cmd("QUIT")
            return result
        finally:
            c.close()

    def smtplib_lmtp(self, timeout=60):
        """Python's smtplib.LMTP connected to the TCP listener. It reads ONE reply after DATA,
        so use it for single-recipient messages; LmtpLine for several recipients."""
        client = smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=timeout)
        client.ehlo_or_helo_if_needed()
        return client

    def retr_all(self, user):
        """Every message of `user` as POP3 RETR sends it (unstuffed, CRLF line ends), in
        maildrop order, in a fresh session that deletes nothing."""
        c = self.login(user)
        try:
            count = int(c.cmd("STAT").split()[1])
            out = []
            for i in range(1, count + 1):
                r = c.cmd(f"RETR {i}")
                assert r.startswith(b"+OK"), r
                out.append(c.read_multiline())
            c.cmd("QUIT")
            return out
        finally:
            c.close()

    def poplib_login(self, user="alice", password=None, timeout=60):
        """A logged-in poplib.POP3; like login(), waits out [IN-USE] left by an ending session."""
        password = self.users[user] if password is None else password
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            p = poplib.POP3("127.0.0.1", self.port, timeout=timeout)
            try:
                p.user(user)
                p.pass_(password)
                return p
            except poplib.error_proto as e:
                p.close()
                if b"[IN-USE]" not in e.args[0] or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


class PortTaken(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# TLS fixtures


def openssl_cli(*args, cwd=None):
    """Runs the openssl command line tool; fails loudly with its stderr."""
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                       timeout=PROCESS_TIMEOUT, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r


class TestCertificates:
    """A throwaway certificate authority in `directory` and server certificates it signs, all
    made with the openssl command line tool (EC P-256, valid two days)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_cert = os.path.join(directory, "ca.pem")
        self.ca_key = os.path.join(directory, "ca.key")
        ext = self._write_ext("ca.ext", "basicConstraints=critical,CA:TRUE\n"
                                        "keyUsage=critical,keyCertSign,cRLSign\n"
                                        "subjectKeyIdentifier=hash\n")
        csr = os.path.join(directory, "ca.csr")
        openssl_cli("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", self.ca_key, "-out", csr, "-subj", "/CN=postern test CA")
        openssl_cli("x509", "-req", "-in", csr, "-signkey", self.ca_key, "-out", self.ca_cert,
                    "-days", "2", "-sha256", "-extfile", ext)

    def _write_ext(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def issue(self, name, common_name="localhost", alt_names="DNS:localhost,IP:127.0.0.1"):
        """A server certificate and its key, signed by the CA: returns (cert_path, key_path)."""
        cert = os.path.join(self.dir, f"{name}.pem")
        key = os.path.join(self.dir, f"{name}.key")
        csr = os.path.join(self.dir, f"{name}.csr")
        ext = self._write_ext(f"{name}.ext", f"basicConstraints=CA:FALSE\n"
                                             f"keyUsage=critical,digitalSignature\n"
                                             f"extendedKeyUsage=serverAuth\n"
                                             f"subjectAltName={alt_names}\n")
        openssl_cli("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={common_name}")
        openssl_cli("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                    "-CAcreateserial", "-out", cert, "-days", "2", "-sha256", "-extfile", ext)
        return cert, key

    def client_context(self, **kw):
        """An ssl.SSLContext that trusts only this CA (hostname checks on)."""
        import ssl
        context = ssl.create_default_context(cafile=self.ca_cert)
        for k, v in kw.items():
            setattr(context, k, v)
        return context


def cert_fingerprint(pem_or_der):
    """SHA-256 of a certificate's DER form, given PEM text, DER bytes or a PEM file path."""
    import hashlib
    import ssl
    if isinstance(pem_or_der, str) and os.path.exists(pem_or_der):
        with open(pem_or_der) as f:
            pem_or_der = f.read()
    if isinstance(pem_or_der, str):
        pem_or_der = ssl.PEM_cert_to_DER_cert(pem_or_der)
    return hashlib.sha256(pem_or_der).hexdigest()


def tls_config_text(certificate, private_key, implicit_port=None, **tls_keys):
    """Config text to append (ServerFixture.start(extra=...)): an implicit-TLS listener on
    implicit_port (when given) and the [tls] table."""
    parts = []
    if implicit_port is not None:
        parts += ["[[listen]]", f'address = "127.0.0.1:{implicit_port}"', 'tls = "implicit"', ""]
    parts += ["[tls]", f"certificate = {toml_value(certificate)}",
              f"private_key = {toml_value(private_key)}"]
    parts += [f"{k} = {toml_value(v)}" for k, v in tls_keys.items()]
    return "\n".join(parts) + "\n"


def parse_kv(text):
    out = {}
    for m in re.finditer(r"([\w.-]+)=(\"(?:[^\"\\]|\\.)*\"|\S*)", text):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[m.group(1)] = v
    return out


def run_postern(args, stdin=None, timeout=PROCESS_TIMEOUT):
    """Run a non-serving subcommand; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run([postern_bin()] + list(args), input=stdin, capture_output=True,
                          timeout=timeout, text=True)


def snapshot_tree(root):
    """Every path under root (relative), for before/after comparisons."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for n in dirnames + filenames:
            out.add(os.path.normpath(os.path.join(rel, n)))
    return out


class ServerTestCase(unittest.TestCase):
    """A test case with `self.server`, started in setUp with `server_config`."""

    server_config = {}
    users = None

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture(users=self.users)
        self.addCleanup(self.server.cleanup)
        self.server.start(**self.server_config)

    def assertOk(self, line, what=""):
        self.assertTrue(line.startswith(b"+OK"), f"{what}: expected +OK, got {line!r}")

    def assertErr(self, line, what=""):
        self.assertTrue(line.startswith(b"-ERR"), f"{what}: expected -ERR, got {line!r}")

    def assert_server_healthy(self):
        """The process is alive and a fresh normal session works end to end.

        Uses carol, whom no test touches otherwise, so a test's own sessions cannot lock her out.
        """
        self.assertTrue(self.server.alive(), "postern serve died; log:\n" + self.server.log_text())
        c = self.server.login("carol")
        try:
            self.assertOk(c.cmd("STAT"), "STAT in a fresh session")
            self.assertOk(c.cmd("NOOP"), "NOOP in a fresh session")
            self.assertOk(c.cmd("QUIT"), "QUIT in a fresh session")
        finally:
            c.close()
