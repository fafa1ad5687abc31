#!/usr/bin/env python3
"""First numbers for postern serve alone (no Dovecot comparison yet: that is the benchmark issue).

  python3 bench/core_numbers.py [--bin build/postern] [--runs 5]

Prints medians of --runs runs for: one RETR of a 100 MB message (MB/s, read by a plain socket
client), login + STAT + UIDL on a 100,000-message maildrop without an index (cold) and with
it (warm), and sequential USER/PASS/STAT/QUIT sessions per second with a {PLAIN} password.
Everything runs on 127.0.0.1 in a temporary folder that is removed afterwards.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.buf = b""
        self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        line = self.line()
        if not line.startswith(b"+OK"):
            raise RuntimeError(f"{text!r}: {line!r}")
        return line

    def multiline(self):
        """Reads to the terminator; returns the octets received."""
        total = 0
        while True:
            end = self.buf.find(b"\r\n.\r\n")
            if end >= 0 or self.buf.startswith(b".\r\n"):
                end = end + 5 if end >= 0 else 3
                total += end
                self.buf = self.buf[end:]
                return total
            keep = self.buf[-4:]
            total += len(self.buf) - len(keep)
            chunk = self.sock.recv(1 << 22)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf = keep + chunk

    def close(self):
        self.sock.close()


def deliver(maildir, name, data):
    with open(os.path.join(maildir, "new", name), "wb") as f:
        f.write(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(HERE, "..", "build", "postern"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="postern-bench-")
    port = free_port()
    try:
        with open(os.path.join(root, "users"), "w") as f:
            f.write("big:{PLAIN}pw::::::\nmany:{PLAIN}pw::::::\nsmall:{PLAIN}pw::::::\n")
        with open(os.path.join(root, "postern.toml"), "w") as f:
            f.write(f'[[listen]]\naddress = "127.0.0.1:{port}"\n[auth]\npasswd_file = "{root}/users"\n'
                    f'[mail]\nmaildir = "{root}/mail/%u"\n')
        for user in ("big", "many", "small"):
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(root, "mail", user, sub))
        line = b"x" * 99 + b"\n"
        deliver(os.path.join(root, "mail", "big"), "1.big", b"Subject: big\n\n" + line * 1_000_000)
        many = os.path.join(root, "mail", "many")
        body = b"Subject: small\n\n" + line * 20
        for i in range(100_000):
            deliver(many, f"{1_700_000_000 + i}.M{i}P1.bench", body)
        deliver(os.path.join(root, "mail", "small"), "1.small", body)

        server = subprocess.Popen([args.bin, "serve", "--config", os.path.join(root, "postern.toml")],
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)
            report(port, root, args.runs)
        finally:
            server.terminate()
            server.wait(30)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def report(port, root, runs):
    def retr():
        c = Client(port)
        c.cmd("USER big")
        c.cmd("PASS pw")
        c.cmd("RETR 1")
        octets = c.multiline()
        c.cmd("QUIT")
        c.close()
        return octets

    rates = []
    for _ in range(runs):
        seconds, octets = timed(retr)
        rates.append(octets / seconds / 1e6)
    print(f"RETR 100 MB: median {statistics.median(rates):.0f} MB/s over {runs} runs")

    def login_many():
        c = Client(port)
        c.cmd("USER many")
        c.cmd("PASS pw")
        c.cmd("STAT")
        c.cmd("UIDL")
        c.multiline()
        c.cmd("QUIT")
        c.close()

    index = os.path.join(root, "mail", "many", "postern-index")
    cold, _ = timed(login_many)  # first login: moves new/ to cur/ and measures every file
    colds = []
    for _ in range(runs):
        os.unlink(index)
        subprocess.run(["sync"])
        colds.append(timed(login_many)[0])
    warms = [timed(login_many)[0] for _ in range(runs)]
    print(f"100,000 messages, login+STAT+UIDL: first ever {cold:.2f} s (new/ to cur/ + scan); "
          f"no index median {statistics.median(colds):.2f} s (page cache warm); "
          f"indexed median {statistics.median(warms) * 1000:.0f} ms")

    def sessions():
        n = 500
        start = time.perf_counter()
        for _ in range(n):
            c = Client(port)
            c.cmd("USER small")
            c.cmd("PASS pw")
            c.cmd("STAT")
            c.cmd("QUIT")
            c.close()
        return n / (time.perf_counter() - start)

    rates = [sessions() for _ in range(runs)]
    print(f"sequential sessions ({{PLAIN}}, one client): median {statistics.median(rates):.0f}/s")


if __name__ == "__main__":
    sys.exit(main())
