#!/usr/bin/env python3
"""postern and Dovecot side by side on this machine: the benchmark of issue 6, one command.

  python3 bench/compare.py [--runs 5] [--quick]

From a fresh clone it installs what is missing (scripts/install-deps --test, then dovecot-pop3d
and gnuplot-nox), builds build/ (scripts/build build), writes the same Maildirs for both servers
with `postern-bench fixture`, starts postern and a private Dovecot (Debian's defaults, see
tests/integration/dovecot_harness.py) on 127.0.0.1, and runs every scenario against both in the
same sitting, alternating which server goes first, --runs times. postern-bench checks every
reply (counts, sizes, UIDLs, every octet of every RETR, dot-stuffing): a run with errors has no
score. Prints medians, ratios and targets; writes bench/results/<date>.json and
docs/performance.svg.

On a machine with two or more CPUs the servers are pinned to CPU 0 and the load generator to
CPU 1 (--no-pin to let the scheduler place them), so that the client never competes with the
server it measures; postern then runs one event-loop thread.

Scenarios (postern-bench does the work): full sessions/s (plain, TLS, TLS with resumption),
one 20 MB RETR (MB/s, beside a raw loopback copy of the same octets), idle logged-in
connections (PSS per connection: postern's process; Dovecot's master and every child), logins/s
({PLAIN} and SHA512-CRYPT), and a 100,000-message maildrop: cold (fresh copy, no index, caches
dropped), warm (the same user 2 s later), no index but cached, and cold with ,W= sizes in the
file names.

Time on the 2-CPU machine of docs/performance.md: --quick (1 run, 2 s per rate, 1,000 idle
connections) about 3 minutes; the full run (5 runs, 5 s per rate, 10,000 idle connections, idle
memory measured in 2 of the runs) about 15 minutes. The work folder is deleted in the background.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import select
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

PASSWORD = "pw"
CRYPT_SALT = "postern.bench"  # a fixed salt: the same SHA512-CRYPT string in both passwd files
SERVERS = ("postern", "dovecot")
EXTRA_PACKAGES = ["dovecot-pop3d", "gnuplot-nox"]
STEP_TIMEOUT = 1800  # seconds; no single tool run may take longer


def log(text):
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------
# Setup: packages, build, fixtures, servers


def install_packages(skip):
    if skip:
        return
    subprocess.run([os.path.join(ROOT, "scripts", "install-deps"), "--test"], check=True)
    missing = [p for p in EXTRA_PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
    ).stdout.strip() != "install ok installed"]
    if missing:
        log(f"installing: {' '.join(missing)}")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                       check=True, env=env, stdout=subprocess.DEVNULL)


def build(build_dir, skip, postern=None, bench=None):
    if not skip:
        subprocess.run([os.path.join(ROOT, "scripts", "build"), build_dir], check=True, cwd=ROOT)
    postern = os.path.abspath(postern or os.path.join(ROOT, build_dir, "postern"))
    bench = os.path.abspath(bench or os.path.join(ROOT, build_dir, "bench", "postern-bench"))
    for path in (postern, bench):
        if not os.access(path, os.X_OK):
            sys.exit(f"compare.py: {path} is missing; build it (scripts/build {build_dir})")
    return postern, bench


class Plan:
    """Sizes and durations of one sitting."""

    def __init__(self, args):
        quick = args.quick
        self.runs = args.runs if args.runs is not None else (1 if quick else 5)
        self.seconds = args.duration if args.duration is not None else (2.0 if quick else 5.0)
        self.clients = args.clients
        default_idle = 1000 if quick else 10000
        self.idle = {"postern": args.idle_connections or default_idle,
                     "dovecot": args.dovecot_idle_connections or args.idle_connections or default_idle}
        self.idle_runs = args.idle_runs if args.idle_runs is not None else (1 if quick else 2)
        self.big = args.big_messages
        self.large_sizes = [20_000_000] + ([100_000_000] if args.retr_100mb else [])
        self.pin = not args.no_pin and (os.cpu_count() or 1) >= 2
        self.server_cpus = {0} if self.pin else None
        self.client_cpus = {1} if self.pin else None
        self.only = set(args.only.split(",")) if args.only else None


def crypt_hash():
    out = subprocess.run(["openssl", "passwd", "-6", "-salt", CRYPT_SALT, PASSWORD],
                         capture_output=True, text=True, check=True).stdout.strip()
    return "{SHA512-CRYPT}" + out


class Users:
    def __init__(self, plan):
        name = lambda prefix, i: f"{prefix}{i:05d}"  # noqa: E731  (postern-bench's user_name)
        self.sessions = [name("sess", i) for i in range(1, plan.clients + 1)]
        self.logins_plain = [name("lgp", i) for i in range(1, plan.clients + 1)]
        self.logins_crypt = [name("lgc", i) for i in range(1, plan.clients + 1)]
        self.idle = [name("idle", i) for i in range(1, max(plan.idle.values()) + 1)]
        self.large = [f"large{i}" for i in range(len(plan.large_sizes))]
        self.big = [f"bigc{r:02d}" for r in range(1, plan.runs + 1)]
        self.big_cached = [f"bigk{r:02d}" for r in range(1, plan.runs + 1)]
        self.big_named = [f"bigw{r:02d}" for r in range(1, plan.runs + 1)]
        self.big_cur = [f"bigu{r:02d}" for r in range(1, plan.runs + 1)]

    def passwd_text(self):
        crypt = crypt_hash()
        plain = "{PLAIN}" + PASSWORD
        lines = [f"{u}:{plain}::::::" for u in
                 self.sessions + self.logins_plain + self.idle + self.large + self.big
                 + self.big_cached + self.big_named + self.big_cur]
        lines += [f"{u}:{crypt}::::::" for u in self.logins_crypt]
        return "\n".join(lines) + "\n"


def write_fixtures(bench, plan, users, pristine, pristine_big, pristine_big_named):
    """Every maildrop once, owned by nobody (Dovecot's mail user); each server gets hard links."""
    def fixture(root, mail_set, names, *extra):
        for start in range(0, len(names), 2000):  # keep command lines short
            subprocess.run([bench, "fixture", "--dir", root, "--set", mail_set, "--owner", "nobody",
                            *extra, *sum((["--user", n] for n in names[start:start + 2000]), [])],
                           check=True, stdout=subprocess.DEVNULL)
    fixture(pristine, "session", users.sessions)
    fixture(pristine, "none", users.logins_plain + users.logins_crypt)
    fixture(pristine, "idle", users.idle)
    for user, size in zip(users.large, plan.large_sizes):
        fixture(pristine, "large", [user], "--large-size", str(size))
    fixture(pristine_big, "big", ["big"], "--big-count", str(plan.big))
    fixture(pristine_big_named, "big", ["big"], "--big-count", str(plan.big), "--size-in-name")
    # The same mail already in cur/ (NAME:2,), as a maildrop that any Maildir reader has seen is.
    fixture(pristine_big_named + "-cur", "big", ["big"], "--big-count", str(plan.big),
            "--size-in-name", "--cur")


def hardlink_copy(source, target):
    subprocess.run(["cp", "-a", "--link", source, target], check=True)


def remove_later(folders):
    """Hundreds of thousands of fixture files take minutes to delete on a slow disk after the
    caches were dropped: that happens in the background, at the lowest priority."""
    process = subprocess.Popen(["nice", "-n", "19", "ionice", "-c", "3", "rm", "-rf", *folders],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    log(f"removing the work folders in the background (rm, pid {process.pid})")


def process_tree(root_pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out = [root_pid]
    i = 0
    while i < len(out):
        out.extend(children.get(out[i], []))
        i += 1
    return out


def memory_kib(pids):
    """Sum of Pss and of Rss (KiB) over the processes, from /proc/PID/smaps_rollup."""
    pss = rss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except OSError:
            pass  # a process that just ended
    return pss, rss


def cpu_seconds(pids):
    """CPU time used by the processes and by their children that have ended (utime, stime,
    cutime, cstime): Dovecot's per-session processes are accounted to the master when reaped."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def pin_tree(root_pid, cpus):
    """Pins a process, its threads and its descendants (children forked later inherit it)."""
    if cpus is None:
        return
    for pid in process_tree(root_pid):
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


class PosternServer:
    name = "postern"

    def __init__(self, binary, work, passwd_file, mail_root, cert, key, plan):
        self.binary = binary
        self.dir = work
        self.mail_root = mail_root
        self.port = postern_harness.free_port()
        self.tls_port = postern_harness.free_port()
        self.config = os.path.join(work, "postern.toml")
        self.log_path = os.path.join(work, "postern.log")
        with open(self.config, "w") as f:
            f.write(f"""# written by bench/compare.py
[server]
hostname = "bench.example"
idle_timeout = "30m"
threads = {1 if plan.pin else 0}

[[listen]]
address = "127.0.0.1:{self.port}"

[[listen]]
address = "127.0.0.1:{self.tls_port}"
tls = "implicit"

[tls]
certificate = "{cert}"
private_key = "{key}"

[auth]
passwd_file = "{passwd_file}"
allow_plaintext = true
failure_delay = "0s"

[limits]
connections = 0
connections_per_address = 0
sessions_per_user = 0

[mail]
maildir = "{mail_root}/%u"
""")
        self.cpus = plan.server_cpus
        self.log = open(self.log_path, "ab")
        self._spawn()

    def _spawn(self):
        cpus = self.cpus
        self.process = subprocess.Popen(
            [self.binary, "serve", "--config", self.config], stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        wait_for_greeting(self.port, self.process, self.log_path)

    def maildir(self, user):
        return os.path.join(self.mail_root, user)

    def pids(self):
        return [self.process.pid]

    def restart(self):
        """A fresh process (same ports): memory freed by earlier steps and kept by the
        allocator must not hide what idle connections cost."""
        self._terminate()
        self._spawn()

    def _terminate(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self):
        self._terminate()
        self.log.close()


class DovecotServer:
    name = "dovecot"

    def __init__(self, passwd_text, cert, key, plan):
        idle = plan.idle["dovecot"]
        # One pop3 process per logged-in connection, and every process talks to log/anvil/config.
        self.fixture = dovecot_harness.DovecotFixture(
            {}, certificate=cert, private_key=key, passwd_text=passwd_text,
            process_limit=idle + 200, extra_config=f"default_client_limit = {idle + 1000}\n")
        self.mail_root = self.fixture.mail_root
        try:
            self.fixture.start()
        except BaseException:
            self.fixture.cleanup()
            raise
        self.cpus = plan.server_cpus
        self._started()

    def _started(self):
        self.port = self.fixture.port
        self.tls_port = self.fixture.tls_port
        pin_tree(self.fixture.process.pid, self.cpus)

    def restart(self):
        """A fresh master and children (new ports), as for postern."""
        self.fixture.stop()
        self.fixture.start()
        self._started()

    def maildir(self, user):
        return self.fixture.maildir(user)

    def pids(self):
        return process_tree(self.fixture.process.pid)

    def stop(self):
        self.fixture.stop()  # its folder goes with the work folder (remove_later)


def wait_for_greeting(port, process, log_path):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            c = postern_harness.Pop3Line(port, timeout=5)
            ok = c.read_greeting().startswith(b"+OK")
            c.close()
            if ok:
                return
        except OSError:
            time.sleep(0.1)
    with open(log_path, errors="replace") as f:
        sys.exit(f"compare.py: postern did not start:\n{f.read()[-3000:]}")


# ---------------------------------------------------------------------------------------------
# Scenarios


class Sitting:
    """What every step needs: binaries, servers, users, plan, and the results so far."""

    def __init__(self, bench, plan, users, servers, ca, pristine_big, pristine_big_named,
                 client_cpus):
        self.bench = bench
        self.plan = plan
        self.users = users
        self.servers = servers
        self.ca = ca
        self.pristine_big = pristine_big
        self.pristine_big_named = pristine_big_named
        self.client_cpus = client_cpus
        self.results = {}  # scenario -> server -> list of {"value": v or None, "raw": json}
        self.cold_mode = None
        self.notes = []
        self.idle_n = {}  # server -> idle connections measured

    def tool(self, server, args, timeout=STEP_TIMEOUT):
        """Runs postern-bench against a server; returns its JSON result (errors included)."""
        cmd = [self.bench] + args + ["--host", "127.0.0.1", "--json"]
        cpu_before = cpu_seconds(server.pids())
        started = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=self._pin_client)
        wall = time.monotonic() - started
        server_cpu = (cpu_seconds(server.pids()) - cpu_before) / wall
        if r.stderr:
            sys.stderr.write("".join(f"  [{server.name}] {line}\n" for line in r.stderr.splitlines()))
        lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
        if not lines:
            return {"valid": False, "errors": 1,
                    "error_samples": [f"postern-bench exited {r.returncode}: {r.stderr[-500:]}"]}
        result = json.loads(lines[-1])
        # The server's CPU use over the whole tool run (1.0 = one core busy): below 1 on a pinned
        # server, the server was waiting, not computing.
        result["server_cpu"] = server_cpu
        return result

    def _pin_client(self):
        if self.client_cpus:
            os.sched_setaffinity(0, self.client_cpus)

    def record(self, scenario, server, value, raw):
        valid = raw.get("valid", False)
        entry = {"value": value if valid else None, "raw": raw}
        self.results.setdefault(scenario, {}).setdefault(server.name, []).append(entry)
        shown = f"{value:.4g}" if valid and value is not None else f"INVALID ({raw.get('errors')} errors)"
        log(f"    {scenario:<22} {server.name:<8} {shown}")


def tls_args(sitting, server):
    return ["--port", str(server.tls_port), "--tls", "--ca", sitting.ca]


def step_sessions(sitting, server, variant):
    plan = sitting.plan
    args = ["sessions", "--clients", str(plan.clients), "--duration", str(plan.seconds)]
    args += sum((["--user", u] for u in sitting.users.sessions), [])
    if variant == "plain":
        args += ["--port", str(server.port)]
    else:
        args += tls_args(sitting, server) + (["--resume"] if variant == "tls-resume" else [])
    raw = sitting.tool(server, args)
    key = {"plain": "sessions", "tls": "sessions-tls", "tls-resume": "sessions-tls-resume"}[variant]
    sitting.record(key, server, raw.get("sessions_per_s"), raw)


def step_logins(sitting, server, variant):
    plan = sitting.plan
    names = sitting.users.logins_plain if variant == "plain" else sitting.users.logins_crypt
    args = ["logins", "--port", str(server.port), "--clients", str(plan.clients),
            "--duration", str(plan.seconds)] + sum((["--user", u] for u in names), [])
    raw = sitting.tool(server, args)
    sitting.record("logins-plain" if variant == "plain" else "logins-crypt", server,
                   raw.get("logins_per_s"), raw)


def step_retr(sitting, server):
    for user, size in zip(sitting.users.large, sitting.plan.large_sizes):
        cpu = min(sitting.plan.server_cpus) if sitting.plan.server_cpus else -1
        raw = sitting.tool(server, ["retr", "--port", str(server.port), "--user", user,
                                    "--large-size", str(size), "--repeat", "3", "--raw-baseline",
                                    "--raw-sender-cpu", str(cpu)])
        key = f"retr-{size // 1_000_000}mb"
        sitting.record(key, server, raw.get("mb_per_s"), raw)


def drop_caches():
    """True when the page cache, dentries and inodes could be dropped (root, not in a jail)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def step_maildrop(sitting, server, run):
    """Cold: a fresh copy of the maildrop (no postern-index, no dovecot.index*/dovecot-uidlist)
    under a user no server has seen, caches dropped. Warm: the same user again, 2 s later.
    No index, cached: another fresh copy, whose files (hard links to the same inodes) the cold
    run has just read into the page cache: what building the index costs without the disk."""
    def fresh_copy(user, pristine=sitting.pristine_big):
        target = server.maildir(user)
        if os.path.exists(target):
            shutil.rmtree(target)
        hardlink_copy(os.path.join(pristine, "big"), target)

    def login(user):
        return sitting.tool(server, ["maildrop", "--port", str(server.port), "--user", user,
                                     "--mail-of", "big", "--big-count", str(sitting.plan.big)])

    cold = sitting.users.big[run]
    fresh_copy(cold)
    dropped = drop_caches()
    sitting.cold_mode = ("no index, page cache, dentries and inodes dropped" if dropped
                         else "no index, but the caches could not be dropped")
    raw = login(cold)
    sitting.record("maildrop-cold", server, raw.get("seconds"), raw)
    time.sleep(2)
    raw = login(cold)
    sitting.record("maildrop-warm", server, raw.get("seconds"), raw)
    cached = sitting.users.big_cached[run]
    fresh_copy(cached)
    raw = login(cached)
    sitting.record("maildrop-cached", server, raw.get("seconds"), raw)
    named = sitting.users.big_named[run]
    fresh_copy(named, sitting.pristine_big_named)
    drop_caches()
    raw = login(named)
    sitting.record("maildrop-cold-named", server, raw.get("seconds"), raw)
    in_cur = sitting.users.big_cur[run]
    fresh_copy(in_cur, sitting.pristine_big_named + "-cur")
    drop_caches()
    raw = login(in_cur)
    sitting.record("maildrop-cold-named-cur", server, raw.get("seconds"), raw)


def read_line_within(stream, seconds):
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else ""


def hold_idle(sitting, server, n, while_held):
    """Holds n idle logged-in connections (users idle00001...), calls while_held() once they
    are all up, then releases them. Returns (tool JSON, what while_held returned)."""
    cmd = [sitting.bench, "idle", "--host", "127.0.0.1", "--port", str(server.port), "--json",
           "--prefix", "idle", "--users", str(n), "--parallel", "32", "--hold", "900"]
    tool = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=sitting._pin_client)
    try:
        ready = read_line_within(tool.stdout, STEP_TIMEOUT)
        m = re.match(r"ready connections=(\d+) errors=(\d+)", ready)
        held = int(m.group(1)) if m else 0
        measured = while_held(held)
        tool.stdin.write("\n")
        tool.stdin.flush()
        out, _ = tool.communicate(timeout=STEP_TIMEOUT)
    finally:
        if tool.poll() is None:
            tool.kill()
            tool.wait()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    raw = json.loads(lines[-1]) if lines else {"valid": False, "errors": 1,
                                               "error_samples": ["postern-bench idle failed"]}
    return raw, measured


def open_files(pid):
    """(descriptors open now, the process's open-files limit)."""
    with open(f"/proc/{pid}/limits") as f:
        limit = int(re.search(r"Max open files\s+(\d+)", f.read()).group(1))
    return len(os.listdir(f"/proc/{pid}/fd")), limit


def idle_connections_that_fit(sitting, server):
    """A single-process server needs descriptors for every logged-in session: count them with
    20 sessions and hold no more than its open-files limit allows (said in the notes)."""
    wanted = sitting.plan.idle[server.name]
    if len(server.pids()) != 1:
        return wanted  # a process per session: no shared descriptor table
    pid = server.pids()[0]
    before, limit = open_files(pid)
    raw, during = hold_idle(sitting, server, 20, lambda held: (held, open_files(pid)[0]))
    held, count = during
    if not raw.get("valid") or held == 0:
        return wanted
    per_session = (count - before) / held
    fit = int((limit - before - 40) / per_session)
    if fit < wanted:
        sitting.notes.append(
            f"idle: {server.name} holds {per_session:.0f} descriptors per logged-in session; its "
            f"open-files limit {limit} fits {fit}, so it was "
            f"measured with {fit} connections instead of {wanted}")
        return fit
    return wanted


def step_idle(sitting, server):
    n = sitting.idle_n.get(server.name)
    if n is None:
        n = sitting.idle_n[server.name] = idle_connections_that_fit(sitting, server)
    # Every measurement starts from a freshly started server that has served one login (so that
    # lazily started parts, such as Dovecot's auth process, are in the baseline).
    server.restart()
    warm = sitting.tool(server, ["logins", "--port", str(server.port), "--clients", "1", "--count",
                                 "2", "--user", sitting.users.logins_plain[0]])
    if not warm.get("valid"):
        log(f"  {server.name}: warm-up login after the restart failed: {warm.get('error_samples')}")
    time.sleep(1)
    before = memory_kib(server.pids())
    pids = []

    def measure(_held):
        time.sleep(2)  # login processes that handed their connection on have exited
        pids.extend(server.pids())
        return memory_kib(pids)

    raw, after = hold_idle(sitting, server, n, measure)
    held = raw.get("connections", 0)
    raw.update({"pss_before_kib": before[0], "pss_after_kib": after[0], "rss_before_kib": before[1],
                "rss_after_kib": after[1], "processes": len(pids)})
    value = (after[0] - before[0]) / held if held else None
    raw["rss_kib_per_connection"] = (after[1] - before[1]) / held if held else None
    sitting.record("idle", server, value, raw)


# ---------------------------------------------------------------------------------------------
# Report

# key: (title, unit, higher is better, [(kind, number)]); kinds: "factor" (times better than
# Dovecot), "min" / "max" (postern's own value).
SCENARIOS = {
    "sessions": ("sessions/s, plain, 8 clients", "/s", True, [("factor", 10)]),
    "sessions-tls": ("sessions/s, TLS, 8 clients", "/s", True, [("factor", 10)]),
    "sessions-tls-resume": ("sessions/s, TLS resumed", "/s", True, [("factor", 10)]),
    "retr-20mb": ("RETR 20 MB", "MB/s", True, [("min", 1000), ("factor", 5)]),
    "retr-100mb": ("RETR 100 MB", "MB/s", True, [("min", 1000), ("factor", 5)]),
    "idle": ("idle connection, PSS", "KiB", False, [("max", 16)]),
    "logins-plain": ("logins/s, {PLAIN}", "/s", True, [("min", 5000)]),
    "logins-crypt": ("logins/s, SHA512-CRYPT", "/s", True, [("min", 5000)]),
    "maildrop-cold": ("100k maildrop, cold", "s", False, [("max", 1.5)]),
    "maildrop-warm": ("100k maildrop, warm", "s", False, [("max", 0.05)]),
    "maildrop-cached": ("100k maildrop, no index, cached", "s", False, [("max", 1.5)]),
    "maildrop-cold-named": ("100k maildrop, cold, W= names", "s", False, [("max", 1.5)]),
    "maildrop-cold-named-cur": ("100k maildrop, cold, W= names, in cur/", "s", False,
                                [("max", 1.5)]),
}


def median_of(entries):
    """(median of the valid runs, number of invalid runs)."""
    values = [e["value"] for e in entries if e["value"] is not None]
    invalid = len(entries) - len(values)
    return (statistics.median(values) if values else None), invalid


def factor(key, postern, dovecot):
    """How many times better postern is (higher is better for both kinds of measure)."""
    if postern is None or dovecot is None or postern == 0 or dovecot == 0:
        return None
    return postern / dovecot if SCENARIOS[key][2] else dovecot / postern


def target_text(targets, unit):
    parts = []
    for kind, number in targets:
        if kind == "factor":
            parts.append(f">={number}x")
        else:
            parts.append(f"{'>=' if kind == 'min' else '<='}{number:g} {unit}")
    return " and ".join(parts)


def met(key, postern, dovecot):
    if postern is None:
        return False
    for kind, number in SCENARIOS[key][3]:
        f = factor(key, postern, dovecot)
        if kind == "factor" and (f is None or f < number):
            return False
        if kind == "min" and postern < number:
            return False
        if kind == "max" and postern > number:
            return False
    return True


def fmt_value(v, unit):
    if v is None:
        return "invalid"
    if unit == "s":
        return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"
    return f"{v:,.1f} {unit}" if v < 100 else f"{v:,.0f} {unit}"


def build_table(sitting):
    rows = []
    for key, (title, unit, _higher, targets) in SCENARIOS.items():
        if key not in sitting.results:
            continue
        p, p_bad = median_of(sitting.results[key].get("postern", []))
        d, d_bad = median_of(sitting.results[key].get("dovecot", []))
        # A server whose runs had errors has no score for the scenario.
        if p_bad:
            p = None
        if d_bad:
            d = None
        f = factor(key, p, d)
        rows.append({"scenario": key, "title": title, "unit": unit, "postern": p, "dovecot": d,
                     "factor": f, "target": target_text(targets, unit), "met": met(key, p, d),
                     "postern_invalid_runs": p_bad, "dovecot_invalid_runs": d_bad,
                     "postern_runs": [e["value"] for e in sitting.results[key].get("postern", [])],
                     "dovecot_runs": [e["value"] for e in sitting.results[key].get("dovecot", [])]})
    return rows


def print_table(rows, markdown=False):
    head = ["scenario", "postern", "Dovecot", "ratio", "target", "met?"]
    body = [[r["title"], fmt_value(r["postern"], r["unit"]), fmt_value(r["dovecot"], r["unit"]),
             f"{r['factor']:.2f}x" if r["factor"] is not None else "-", r["target"],
             "yes" if r["met"] else "no"] for r in rows]
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(out)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in body])


def extra_lines(sitting):
    """Figures that qualify the table: raw loopback, TLS resumption, client CPU, idle N."""
    out = []
    for key in ("retr-20mb", "retr-100mb"):
        for server in SERVERS:
            raws = [e["raw"].get("raw_mb_per_s") for e in sitting.results.get(key, {}).get(server, [])
                    if e["raw"].get("raw_mb_per_s")]
            if raws:
                out.append(f"{key}: raw loopback TCP copy of the same octets, measured beside "
                           f"{server}: median {statistics.median(raws):,.0f} MB/s")
    for key in ("sessions-tls", "sessions-tls-resume"):
        for server in SERVERS:
            entries = sitting.results.get(key, {}).get(server, [])
            shakes = sum(e["raw"].get("tls_handshakes", 0) for e in entries)
            resumed = sum(e["raw"].get("tls_resumed", 0) for e in entries)
            if shakes:
                out.append(f"{key}: {server} resumed {resumed} of {shakes} TLS handshakes")
    for key, servers in sitting.results.items():
        for server, entries in servers.items():
            cpus = [e["raw"].get("client_cpu") for e in entries if e["raw"].get("client_cpu")]
            if cpus and max(cpus) > 0.8:
                out.append(f"{key}: against {server} the load generator used up to "
                           f"{max(cpus):.0%} of its CPU: it may have been the bottleneck")
    for key, servers in sitting.results.items():
        usage = []
        for server in SERVERS:
            cpus = [e["raw"].get("server_cpu") for e in servers.get(server, [])
                    if e["raw"].get("server_cpu") is not None]
            if cpus:
                usage.append(f"{server} {statistics.median(cpus):.2f}")
        if usage and key != "idle" and not key.startswith("retr"):
            out.append(f"{key}: server CPU (cores busy, median): {', '.join(usage)}")
    for server in SERVERS:
        entries = sitting.results.get("idle", {}).get(server, [])
        if entries:
            raw = entries[-1]["raw"]
            out.append(f"idle: {server} held {raw.get('connections')} connections "
                       f"({raw.get('processes')} processes); RSS delta "
                       f"{raw.get('rss_kib_per_connection') or 0:.1f} KiB per connection")
    if sitting.cold_mode:
        out.append(f"maildrop-cold: {sitting.cold_mode}")
    out.extend(sitting.notes)
    return out


def write_chart(rows, path, work):
    """docs/performance.svg: how many times better than Dovecot, against the target, log scale."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        log("gnuplot is not installed: no chart")
        return False
    data = os.path.join(work, "chart.dat")
    with open(data, "w") as f:
        for r in rows:
            if r["factor"] is None:
                continue
            need = []
            for kind, number in SCENARIOS[r["scenario"]][3]:
                if kind == "factor":
                    need.append(number)
                elif r["dovecot"]:
                    need.append(number / r["dovecot"] if kind == "min" else r["dovecot"] / number)
            label = r["title"].replace('"', "'")
            f.write(f'"{label}" {r["factor"]:.4f} {max(need) if need else 1:.4f}\n')
    script = os.path.join(work, "chart.gp")
    with open(script, "w") as f:
        f.write(f"""set terminal svg size 1000,560 dynamic noenhanced font "sans,12" background rgb "white"
set output "{path}"
set title "postern against Dovecot 2.3 on the same machine (higher is better)"
set ylabel "times better than Dovecot (log scale)"
set logscale y
set yrange [0.1:*]
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set bmargin 9
set lmargin 16
set xtics rotate by 30 right scale 0
set key top left
plot "{data}" using 2:xtic(1) title "postern / Dovecot (median)" lc rgb "#3465a4", \\
     "" using 0:3 with points pt 7 ps 1.2 lc rgb "#cc0000" title "target", \\
     1 with lines dt 2 lc rgb "#555555" title "Dovecot"
""")
    subprocess.run([gnuplot, script], check=True)
    return True


def machine_info(postern, plan):
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    meminfo = open("/proc/meminfo").read()
    model = re.search(r"Model name:\s*(.*)", run(["lscpu"]))
    commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", "src"])
    return {
        "cpu": model.group(1) if model else platform.processor(),
        "cpus": os.cpu_count(),
        "memory_kib": int(re.search(r"MemTotal:\s*(\d+)", meminfo).group(1)),
        "kernel": platform.release(),
        "dovecot": run(["/usr/sbin/dovecot", "--version"]),
        "postern_commit": commit + ("+local changes in src/" if dirty else ""),
        "postern_binary": os.path.relpath(postern, ROOT),
        "pinned": "servers on CPU 0, load generator on CPU 1" if plan.pin else "not pinned",
    }


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="runs of every scenario (default 5, quick 1)")
    parser.add_argument("--quick", action="store_true", help="short run (a few minutes)")
    parser.add_argument("--duration", type=float, help="seconds per rate measurement (5, quick 2)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--idle-connections", type=int, help="idle connections (10000, quick 1000)")
    parser.add_argument("--dovecot-idle-connections", type=int,
                        help="idle connections for Dovecot when fewer fit (a process each)")
    parser.add_argument("--idle-runs", type=int, help="runs that measure idle memory (2, quick 1)")
    parser.add_argument("--big-messages", type=int, default=100_000,
                        help="messages in the big maildrop (default 100000)")
    parser.add_argument("--retr-100mb", action="store_true", help="also RETR a 100 MB message")
    parser.add_argument("--only", help="comma-separated steps: sessions,tls,retr,idle,maildrop,logins")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and client to CPUs")
    parser.add_argument("--build-dir", default="build", help="build tree (default build)")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    parser.add_argument("--postern", help="postern binary to measure (default BUILD_DIR/postern)")
    parser.add_argument("--bench", help="load generator (default BUILD_DIR/bench/postern-bench)")
    parser.add_argument("--no-install", action="store_true", help="skip the package check")
    parser.add_argument("--no-chart", action="store_true", help="do not write docs/performance.svg")
    parser.add_argument("--results", default=os.path.join(ROOT, "bench", "results"),
                        help="folder for the JSON results")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("compare.py: run as root (Dovecot's mail user, dropping caches)")

    started = time.monotonic()
    load_at_start = open("/proc/loadavg").read().split()[:3]
    install_packages(args.no_install)
    postern_bin, bench = build(args.build_dir, args.no_build, args.postern, args.bench)
    info = machine_info(postern_bin, Plan(args))  # the commit as it is when measuring starts
    plan = Plan(args)
    # Thousands of idle sockets: raise the descriptor limit for us and every child.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < max(plan.idle.values()) + 1000:
        sys.exit(f"compare.py: the open-files limit {hard} is too low for "
                 f"{max(plan.idle.values())} idle connections (--idle-connections)")
    if plan.client_cpus:
        os.sched_setaffinity(0, plan.client_cpus)  # this script and the load generator

    work = tempfile.mkdtemp(prefix="postern-compare-", dir="/var/tmp")  # a real disk, not tmpfs
    os.chmod(work, 0o755)
    servers = []
    try:
        users = Users(plan)
        pristine = os.path.join(work, "pristine")
        pristine_big = os.path.join(work, "pristine-big")
        pristine_big_named = os.path.join(work, "pristine-big-named")
        log(f"writing fixtures under {work} ...")
        t = time.monotonic()
        write_fixtures(bench, plan, users, pristine, pristine_big, pristine_big_named)
        passwd_text = users.passwd_text()
        passwd_file = os.path.join(work, "users")
        with open(passwd_file, "w") as f:
            f.write(passwd_text)
        certs = postern_harness.TestCertificates(os.path.join(work, "certs"))
        cert, key = certs.issue("server")
        os.chmod(os.path.join(work, "certs"), 0o755)
        postern_mail = os.path.join(work, "postern-mail")
        hardlink_copy(pristine, postern_mail)
        log(f"  done in {time.monotonic() - t:.0f} s; starting servers")

        servers.append(PosternServer(postern_bin, work, passwd_file, postern_mail, cert, key, plan))
        dovecot = DovecotServer(passwd_text, cert, key, plan)
        servers.append(dovecot)
        os.rmdir(dovecot.mail_root)
        hardlink_copy(pristine, dovecot.mail_root)

        sitting = Sitting(bench, plan, users, servers, certs.ca_cert, pristine_big,
                          pristine_big_named, plan.client_cpus)
        steps = [
            ("sessions", lambda s, r: step_sessions(sitting, s, "plain")),
            ("tls", lambda s, r: step_sessions(sitting, s, "tls")),
            ("tls", lambda s, r: step_sessions(sitting, s, "tls-resume")),
            ("retr", lambda s, r: step_retr(sitting, s)),
            ("logins", lambda s, r: step_logins(sitting, s, "plain")),
            ("logins", lambda s, r: step_logins(sitting, s, "crypt")),
            ("maildrop", lambda s, r: step_maildrop(sitting, s, r)),
            ("idle", lambda s, r: step_idle(sitting, s) if r < plan.idle_runs else None),
        ]
        steps = [(name, fn) for name, fn in steps if plan.only is None or name in plan.only]

        log("warm-up (not counted): one short session run per server, to build indexes and "
            "fill the page cache")
        for server in servers:
            warm = sitting.tool(server, ["sessions", "--port", str(server.port), "--count", "16",
                                         "--clients", str(plan.clients)]
                                + sum((["--user", u] for u in users.sessions), []))
            if not warm.get("valid"):
                log(f"  {server.name}: warm-up had errors: {warm.get('error_samples')}")

        for run in range(plan.runs):
            order = servers if run % 2 == 0 else list(reversed(servers))
            log(f"run {run + 1}/{plan.runs} ({' then '.join(s.name for s in order)} in each step)")
            for _name, fn in steps:
                for server in order:
                    fn(server, run)

        rows = build_table(sitting)
        info["loadavg_start"] = load_at_start
        info["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        elapsed = time.monotonic() - started
        table = print_table(rows)
        notes = extra_lines(sitting)
        log("")
        log(table)
        log("")
        log("ratio: how many times better postern is (rates: postern/Dovecot; memory and time: "
            "Dovecot/postern). Medians of the runs; 'invalid' = a run had errors, no score.")
        for line in notes:
            log(f"  {line}")
        log(f"machine: {info['cpu']}, {info['cpus']} CPUs, {info['memory_kib'] // 1024} MiB, "
            f"kernel {info['kernel']}, Dovecot {info['dovecot']}, postern {info['postern_commit']}; "
            f"{info['pinned']}; load average {' '.join(info['loadavg_start'])} at start, "
            f"{' '.join(info['loadavg_end'])} at the end; {elapsed / 60:.1f} minutes")

        os.makedirs(args.results, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
        result_path = os.path.join(args.results, f"{stamp}.json")
        with open(result_path, "w") as f:
            json.dump({"date": stamp, "machine": info, "command": sys.argv,
                       "plan": {"runs": plan.runs, "seconds": plan.seconds, "clients": plan.clients,
                                "idle": plan.idle, "idle_measured": sitting.idle_n,
                                "idle_runs": plan.idle_runs, "big": plan.big,
                                "large_sizes": plan.large_sizes, "pinned": plan.pin},
                       "table": rows, "table_markdown": print_table(rows, markdown=True),
                       "notes": notes, "runs": sitting.results, "minutes": elapsed / 60},
                      f, indent=1)
        log(f"results: {result_path}")
        if not args.no_chart:
            chart = os.path.join(ROOT, "docs", "performance.svg")
            if write_chart(rows, chart, work):
                log(f"chart: {chart}")
        invalid = any(r["postern_invalid_runs"] or r["dovecot_invalid_runs"] for r in rows)
        return 1 if invalid else 0
    finally:
        for server in servers:
            server.stop()
        folders = [work] + [s.fixture.dir for s in servers if isinstance(s, DovecotServer)]
        if args.keep:
            log(f"kept {' '.join(folders)}")
        else:
            remove_later(folders)


if __name__ == "__main__":
    sys.exit(main())
