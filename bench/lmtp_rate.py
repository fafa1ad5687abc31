#!/usr/bin/env python3
"""Delivered messages per second over LMTP into postern maildrops.

  python3 bench/lmtp_rate.py [--postern build/postern] [--messages 2000] [--size 4096]
                             [--clients 4] [--recipients 1] [--users 8] [--runs 5]

Starts `postern serve` with one [[lmtp]] listener on 127.0.0.1 in a temporary folder (removed
afterwards). Each run, --clients concurrent LMTP connections share --messages transactions;
each transaction is one message of --size bytes to --recipients recipients, pipelined the way
Postfix sends it (MAIL, RCPT..., DATA in one write). A run counts only when every message is
in new/ of every recipient with the exact expected size (message plus the Return-Path and
Delivered-To lines postern adds); the maildirs are emptied between runs. Prints the command
line and the median rate over --runs runs.
"""

import argparse
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SENDER = "bench@example.org"
MAX_MESSAGES = 1_000_000
MAX_SIZE = 32 << 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_message(size, number):
    """About `size` bytes (at least the header), CRLF lines of 76 characters, none starting
    with a dot; unique Message-ID."""
    head = (f"From: <{SENDER}>\r\nTo: <bench@example.org>\r\nSubject: bench {number}\r\n"
            f"Message-ID: <{number}.bench@example.org>\r\n\r\n").encode()
    line = b"abcdefghijklmnopqrstuvwxyz0123456789" * 2 + b"0123\r\n"  # 78 bytes
    body_size = max(0, size - len(head))
    body = (line * (body_size // len(line) + 1))[:body_size]
    if body and not body.endswith(b"\r\n"):
        body = body[:-2] + b"\r\n" if len(body) >= 2 else b""
    return head + body


class LmtpClient:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""
        self.expect(b"220")
        self.sock.sendall(b"LHLO bench.example.org\r\n")
        self.expect(b"250", multiline=True)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("LMTP server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def expect(self, code, multiline=False):
        while True:
            line = self.line()
            if not line.startswith(code):
                raise RuntimeError(f"expected {code.decode()}, got {line!r}")
            if not multiline or line[3:4] != b"-":
                return line

    def send(self, recipients, message):
        """One transaction; fails unless every recipient gets 250 after the data."""
        commands = [f"MAIL FROM:<{SENDER}> SIZE={len(message)}"]
        commands += [f"RCPT TO:<{r}>" for r in recipients] + ["DATA"]
        self.sock.sendall("".join(c + "\r\n" for c in commands).encode())
        self.expect(b"250")
        for _ in recipients:
            self.expect(b"250")
        self.expect(b"354")
        self.sock.sendall(message + b".\r\n")  # no line starts with a dot: nothing to stuff
        for _ in recipients:
            self.expect(b"250")

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.line()
        except (OSError, RuntimeError):
            pass
        self.sock.close()


def run_once(port, messages, recipients_of, clients, deadline):
    """Sends every message; returns the seconds it took."""
    errors = []
    next_number = [0]
    lock = threading.Lock()

    def work():
        try:
            client = LmtpClient(port)
            try:
                while True:
                    with lock:
                        number = next_number[0]
                        next_number[0] += 1
                    if number >= len(messages):
                        return
                    if time.monotonic() > deadline:
                        raise RuntimeError("time limit reached")
                    client.send(recipients_of(number), messages[number])
            finally:
                client.close()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed, first: {errors[0]}")
    return seconds


def verify_and_empty(mail_root, expected):
    """expected: {user: [stored size, ...]}; checks new/ holds exactly those sizes, then empties
    it for the next run."""
    for user, sizes in expected.items():
        new = os.path.join(mail_root, user, "new")
        names = os.listdir(new) if os.path.isdir(new) else []
        found = sorted(os.path.getsize(os.path.join(new, n)) for n in names)
        if found != sorted(sizes):
            raise RuntimeError(f"{user}: {len(found)} messages in new/, expected {len(sizes)} "
                               "(or sizes differ)")
        for n in names:
            os.unlink(os.path.join(new, n))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per message")
    parser.add_argument("--clients", type=int, default=4, help="concurrent LMTP connections")
    parser.add_argument("--recipients", type=int, default=1, help="recipients per transaction")
    parser.add_argument("--users", type=int, default=8, help="maildrops the mail is spread over")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=300, help="seconds per run at most")
    args = parser.parse_args()
    if not 1 <= args.messages <= MAX_MESSAGES or not 64 <= args.size <= MAX_SIZE:
        parser.error(f"--messages 1..{MAX_MESSAGES}, --size 64..{MAX_SIZE}")
    if not 1 <= args.recipients <= args.users or not 1 <= args.clients <= 256:
        parser.error("--recipients 1..--users, --clients 1..256")
    if not 1 <= args.runs <= 100:
        parser.error("--runs 1..100")

    root = tempfile.mkdtemp(prefix="postern-bench-lmtp-")
    port, lmtp_port = free_port(), free_port()
    users = [f"user{i}" for i in range(args.users)]
    mail_root = os.path.join(root, "mail")
    try:
        with open(os.path.join(root, "users"), "w") as f:
            f.writelines(f"{u}:{{PLAIN}}pw::::::\n" for u in users)
        with open(os.path.join(root, "postern.toml"), "w") as f:
            f.write(f'[[listen]]\naddress = "127.0.0.1:{port}"\n'
                    f'[[lmtp]]\naddress = "127.0.0.1:{lmtp_port}"\n'
                    f'[auth]\npasswd_file = "{root}/users"\n[mail]\nmaildir = "{mail_root}/%u"\n')
        messages = [make_message(args.size, i) for i in range(args.messages)]

        def recipients_of(number):
            return [f"{users[(number + k) % len(users)]}@example.org"
                    for k in range(args.recipients)]

        expected = {u: [] for u in users}
        for number, message in enumerate(messages):
            lf = len(message) - message.count(b"\r\n")  # stored with LF line ends
            for address in recipients_of(number):
                added = len(f"Return-Path: <{SENDER}>\nDelivered-To: {address}\n")
                expected[address.split("@")[0]].append(lf + added)

        server = subprocess.Popen([args.postern, "serve", "--config",
                                   os.path.join(root, "postern.toml")],
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", lmtp_port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.1)
            rates = []
            for _ in range(args.runs):
                seconds = run_once(lmtp_port, messages, recipients_of, args.clients,
                                   time.monotonic() + args.time_limit)
                verify_and_empty(mail_root, expected)
                rates.append(args.messages / seconds)
        finally:
            server.terminate()
            server.wait(30)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print("$ " + " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    deliveries = args.messages * args.recipients
    median = statistics.median(rates)
    print(f"LMTP delivery, {args.messages} messages of {args.size} bytes, {args.recipients} "
          f"recipient(s) each, {args.clients} connections: median {median:.0f} messages/s "
          f"({median * args.recipients:.0f} deliveries/s, "
          f"{median * args.size * args.recipients / 1e6:.1f} MB/s stored) over {args.runs} runs; "
          f"all {deliveries} deliveries verified in new/ each run")
    print("runs: " + ", ".join(f"{r:.0f}" for r in rates) + " messages/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
