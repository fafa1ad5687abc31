#!/usr/bin/env python3
"""postern fetch, fetchmail and mpop downloading the same 5,000 messages from the same Dovecot.

  python3 bench/fetch_compare.py [--runs 3] [--messages 5000] [--size 4096] [--postern PATH]

Needs dovecot-pop3d, fetchmail and mpop (scripts/install-deps --test) and a built postern
(default build/postern). A private Dovecot (tests/integration/dovecot_harness.py) serves one
maildrop of --messages messages of about --size bytes each (random text from a fixed seed) over
plain POP3 on 127.0.0.1: the same transport for all three, so TLS library differences do not
count. Every run is keep mode with fresh client state (a new UIDL file and an empty
destination), so each run downloads everything; the order of the tools rotates from run to
run, and the median of --runs runs is reported.

Two ways of storing, because fetchmail cannot write a Maildir itself:
  mda      all three hand each message to the SAME command on stdin, one process per message:
           cat > $(mktemp DIR/msg.XXXXXXXXXX)  -- the like-for-like comparison.
  maildir  each tool's own best way: postern and mpop write the Maildir themselves (fsync'd);
           fetchmail has no Maildir writer and is not in this row.
Options that keep the clients from changing the mail: fetchmail --invisible, `no rewrite`,
`sslproto ''` (no STLS attempt on the plain port); mpop --received-header=off. Every run is
verified: the number of stored messages and their bytes (the LF form of each original).
"""

import argparse
import os
import pwd
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import dovecot_harness  # noqa: E402  (needs the path above)
import postern_harness  # noqa: E402

USER, PASSWORD = "bench", "bench-pw"
TIMEOUT = 1800


def make_messages(count, size, seed):
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(500)]
    out = []
    for i in range(count):
        head = (f"From: Sender {i % 97} <s{i % 97}@example.com>\nTo: {USER}@example.org\n"
                f"Subject: benchmark message {i}\nMessage-ID: <fetch-bench-{i}@example.com>\n"
                f"Date: Thu, 26 Nov 2026 12:00:00 +0000\n\n").encode()
        body = bytearray()
        while len(head) + len(body) < size:
            line = b" ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
            if rng.random() < 0.02:
                line = b"." + line
            body += line + b"\n"
        out.append(head + bytes(body))
    return out


def read_dir(path):
    out = []
    for root, _dirs, files in os.walk(path):
        if os.path.basename(root) == "tmp":
            continue
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                out.append(f.read())
    return out


class Runner:
    def __init__(self, args, dovecot, work):
        self.args, self.dovecot, self.work = args, dovecot, work

    def mda(self, out):
        return f"cat > $(mktemp {out}/msg.XXXXXXXXXX)"

    def command(self, tool, delivery, out, state):
        port = self.dovecot.port
        if tool == "postern fetch":
            cmd = [self.args.postern, "fetch", f"pop3://{USER}@127.0.0.1:{port}", "--no-tls",
                   "--keep", "--state-dir", state, "-q"]
            return cmd + (["--to", out] if delivery == "maildir" else ["--mda", self.mda(out)])
        if tool == "mpop":
            target = f"maildir,{out}" if delivery == "maildir" else f"mda,{self.mda(out)}"
            return ["mpop", "--host=127.0.0.1", f"--port={port}", f"--user={USER}",
                    f"--passwordeval=echo {PASSWORD}", "--tls=off", "--auth=user",
                    f"--delivery={target}", "--keep=on", f"--uidls-file={state}/uidls",
                    "--received-header=off", "--timeout=300", "--quiet"]
        if tool == "fetchmail":
            rc = os.path.join(state, "fetchmailrc")
            local_user = pwd.getpwuid(os.getuid()).pw_name
            with open(rc, "w") as f:
                f.write("set no syslog\n"
                        f"poll 127.0.0.1 with protocol POP3 port {port} uidl\n"
                        f"  user \"{USER}\" there with password \"{PASSWORD}\""
                        f" is {local_user} here\n"
                        "  options keep no rewrite sslproto ''\n"
                        f"  mda \"{self.mda(out)}\"\n")
            os.chmod(rc, 0o600)
            return ["fetchmail", "--fetchmailrc", rc, "--idfile", f"{state}/ids",
                    "--pidfile", f"{state}/pid", "--invisible", "--nosyslog", "--silent"]
        raise ValueError(tool)

    def run(self, tool, delivery, expected):
        out = tempfile.mkdtemp(prefix="out-", dir=self.work)
        state = tempfile.mkdtemp(prefix="state-", dir=self.work)
        if delivery == "maildir":
            os.rmdir(out)  # postern creates it; mpop needs it made
            if tool == "mpop":
                for sub in ("tmp", "new", "cur"):
                    os.makedirs(os.path.join(out, sub))
        cmd = self.command(tool, delivery, out, state)
        env = dict(os.environ, POSTERN_PASSWORD=PASSWORD, HOME=state)
        started = time.monotonic()
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT)
        elapsed = time.monotonic() - started
        if r.returncode != 0:
            raise SystemExit(f"{tool} ({delivery}) exited with {r.returncode}:\n"
                             f"{' '.join(cmd)}\n{r.stderr.decode(errors='replace')[-3000:]}")
        got = sorted(read_dir(out))
        if len(got) != len(expected):
            raise SystemExit(f"{tool} ({delivery}) stored {len(got)} of {len(expected)} messages")
        if got != expected:
            raise SystemExit(f"{tool} ({delivery}) stored messages that differ from the originals")
        shutil.rmtree(out)
        shutil.rmtree(state)
        return elapsed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--size", type=int, default=4096, help="bytes per message, about")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--postern", default=os.path.join(ROOT, "build", "postern"))
    args = p.parse_args()
    args.postern = os.path.abspath(args.postern)
    for tool in ("fetchmail", "mpop", dovecot_harness.DOVECOT, args.postern):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: scripts/install-deps --test, scripts/build")

    print("command: python3 " + " ".join([os.path.relpath(__file__, ROOT)] + sys.argv[1:]))
    versions = {
        "postern": subprocess.run([args.postern, "--version"], capture_output=True,
                                  text=True).stdout.strip(),
        "fetchmail": subprocess.run(["fetchmail", "--version"], capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL).stdout.splitlines()[0],
        "mpop": subprocess.run(["mpop", "--version"], capture_output=True,
                               text=True).stdout.splitlines()[0],
    }
    for name, text in versions.items():
        print(f"  {name}: {text}")
    messages = make_messages(args.messages, args.size, args.seed)
    expected = sorted(postern_harness.lf_form(m) for m in messages)
    total = sum(len(m) for m in messages)
    print(f"maildrop: {len(messages)} messages, {total / 1e6:.1f} MB, seed {args.seed}; "
          f"Dovecot, plain POP3 on 127.0.0.1; keep mode, fresh state each run; "
          f"median of {args.runs} runs, tools in rotating order", flush=True)

    work = tempfile.mkdtemp(prefix="postern-fetch-bench-")
    dovecot = dovecot_harness.DovecotFixture({USER: PASSWORD})
    try:
        for data in messages:
            dovecot.add_message(USER, data)
        dovecot.start()
        runner = Runner(args, dovecot, work)
        cases = [("postern fetch", "mda"), ("fetchmail", "mda"), ("mpop", "mda"),
                 ("postern fetch", "maildir"), ("mpop", "maildir")]
        times = {c: [] for c in cases}
        for i in range(args.runs):
            order = cases[i % len(cases):] + cases[:i % len(cases)]
            for case in order:
                t = runner.run(*case, expected)
                times[case].append(t)
                print(f"  run {i + 1}: {case[0]:<13} {case[1]:<8} {t:7.2f} s", flush=True)
        print()
        print("| tool          | delivery | median s | messages/s | runs (s)")
        print("|---------------|----------|----------|------------|---------")
        for case in cases:
            med = statistics.median(times[case])
            runs = ", ".join(f"{t:.2f}" for t in times[case])
            print(f"| {case[0]:<13} | {case[1]:<8} | {med:8.2f} | {len(messages) / med:10.0f} | "
                  f"{runs}")
        print("\nmda: the same `cat > $(mktemp DIR/msg.XXXXXXXXXX)` for all three, one process "
              "per message; maildir: the tool's own Maildir writer (fetchmail has none). Every "
              "run verified: all messages stored, byte-identical to the originals.")
    finally:
        dovecot.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
