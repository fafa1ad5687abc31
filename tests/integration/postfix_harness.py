"""A private Postfix instance for the integration tests, owned by the test that starts it.

PostfixFixture writes its own main.cf and master.cf into a temp dir, with its own queue and data
directories and mail log there, and runs Postfix's master(8) as a child process in a session of
its own (stopped by PID in cleanup). It never reads or touches /etc/postfix or a system Postfix.

The instance accepts SMTP on 127.0.0.1:<free port> from 127.0.0.0/8 and delivers
  - example.org        over LMTP to a postern [[lmtp]] listener (virtual_transport),
  - pipe.example.org   through `postern deliver` as a pipe(8) transport (transport_maps),
and refuses everything else (no DNS, nothing leaves the machine). docs/delivery.md quotes the
delivery lines of this configuration; keep the two in step.
"""

import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

from postern_harness import PROCESS_TIMEOUT, START_TIMEOUT, PortTaken, free_port

POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
DELIVERY_TIMEOUT = 60.0  # generous: mail flows through two daemons on a loaded 2-core machine

# The unprivileged user pipe(8) runs `postern deliver` as: pipe refuses root.
DELIVER_USER = "nobody"

# A delivery attempt in the mail log: "QUEUEID: to=<...>, relay=..., ..., dsn=X.Y.Z, status=..."
LOG_DELIVERY = re.compile(
    r"postfix/(?P<agent>[\w-]+)\[\d+\]: (?P<queue_id>[0-9A-F]+): to=<(?P<to>[^>]*)>,"
    r"(?: orig_to=<(?P<orig_to>[^>]*)>,)? relay=(?P<relay>[^,]*),.*? dsn=(?P<dsn>[\d.]+),"
    r" status=(?P<status>\w+) \((?P<text>.*)\)$")


def postfix_main_cf(directory, lmtp_destination, transports, local_domain=None):
    """main.cf text: everything private to `directory`; see the module comment."""
    transport_map = ", ".join(f"{domain}={service}:" for domain, service in transports.items())
    domains = ", ".join(["example.org"] + list(transports))
    local = "mydestination =\n"
    if local_domain:
        local = f"mydestination = {local_domain}\nmailbox_transport = lmtp:{lmtp_destination}\n"
    return f"""\
# A private Postfix instance for postern's integration tests (tests/integration/postfix_harness.py).
compatibility_level = 3.6
queue_directory = {directory}/queue
data_directory = {directory}/data
maillog_file = {directory}/maillog
maillog_file_prefixes = {directory}
myhostname = mx.example.org
mydomain = example.org
myorigin = $mydomain
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
in_flow_delay = 0
message_size_limit = 51200000
notify_classes =
biff = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
default_transport = error:5.7.1 this test instance delivers only to its own domains
relay_transport = $default_transport
# Retries wait: a deferred message stays in the queue until the test runs postqueue -f.
queue_run_delay = 300s
minimal_backoff_time = 300s
maximal_backoff_time = 600s
{local}# --- delivery into postern (docs/delivery.md quotes these lines) ---
virtual_mailbox_domains = {domains}
virtual_transport = lmtp:{lmtp_destination}
transport_maps = inline:{{ {transport_map} }}
""" + "".join(f"{service}_destination_recipient_limit = 1\n"
              for service in sorted(set(transports.values())))


def postfix_master_cf(smtp_port, pipe_services):
    """master.cf text: the services this instance needs, none chrooted; one pipe(8) service per
    entry of pipe_services (name -> argv)."""
    pipes = "".join(f"""\
{name} unix -  n       n       -       -       pipe
  flags=Xhu user={DELIVER_USER} null_sender=
  argv={argv}
""" for name, argv in pipe_services.items())
    return f"""\
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""" + pipes


def others_can_execute(path):
    """Whether an unprivileged user can reach and run `path`: o+x on the file and every parent."""
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & 0o001:
                return False
        except OSError:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def reachable_postern(binary):
    """A path to the postern binary that pipe(8) can exec as DELIVER_USER.

    A checkout under a private directory (e.g. /root) is not reachable: then the binary is
    copied once per test module into a world-readable temp dir."""
    if others_can_execute(binary):
        return binary
    cached = _copies.get(binary)
    if cached is None:
        directory = tempfile.mkdtemp(prefix="postern-bin-")
        os.chmod(directory, 0o755)
        cached = os.path.join(directory, "postern")
        shutil.copy2(binary, cached)
        os.chmod(cached, 0o755)
        _copies[binary] = cached
        unittest.addModuleCleanup(shutil.rmtree, directory, ignore_errors=True)
    return cached


_copies = {}


def port_in_use(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


def share_with_deliver_user(directory):
    """Open a temp dir made by this test (mkdtemp makes 0700) to DELIVER_USER: pipe(8) runs
    `postern deliver` as that user, which reads the config and passwd-file inside it. Fails when
    a parent is closed (a TMPDIR under /root): parents are not ours to chmod."""
    os.chmod(directory, 0o755)
    if not others_can_execute(directory):
        raise AssertionError(f"{directory} is not reachable by {DELIVER_USER}: a parent directory "
                             "lacks o+x; set TMPDIR to a directory everyone can reach")


class PostfixFixture:
    """One private Postfix instance.

    `fixture = PostfixFixture("inet:127.0.0.1:2424", postern_bin(), server.config_file)`,
    `test.addCleanup(fixture.cleanup)`, `fixture.start()`; then `send(...)`,
    `wait_for_delivery(...)`, `bounce_queue_id(...)`, `queue()`, `flush()`, `diagnostics()`.
    """

    def __init__(self, lmtp_destination, postern, postern_config, local_domain=None,
                 extra_pipes=None):
        """lmtp_destination: "inet:127.0.0.1:PORT" or "unix:private/NAME". local_domain: also a
        local(8) domain whose mailboxes go to postern by mailbox_transport. extra_pipes: more
        `postern deliver` transports, {domain: config path}, each with a service of its own."""
        self.dir = tempfile.mkdtemp(prefix="postern-postfix-")
        share_with_deliver_user(self.dir)  # the postfix user walks into queue/ and data/
        self.config_dir = os.path.join(self.dir, "etc")
        self.queue_dir = os.path.join(self.dir, "queue")
        self.maillog = os.path.join(self.dir, "maillog")
        self.smtp_port = free_port()
        self.lmtp_destination = lmtp_destination
        self.local_domain = local_domain
        self.postern = reachable_postern(postern)
        configs = {"pipe.example.org": postern_config}
        configs.update(extra_pipes or {})
        self.transports = {}
        self.pipe_services = {}
        for i, (domain, config) in enumerate(configs.items()):
            service = "postern-deliver" if i == 0 else f"postern-deliver{i + 1}"
            self.transports[domain] = service
            self.pipe_services[service] = (f"{self.postern} deliver -c {config} -f ${{sender}}"
                                           f" -a ${{original_recipient}} --user ${{user}}")
        self.process = None
        self.prepared = False
        self.master_output = os.path.join(self.dir, "master.out")

    # -- process --------------------------------------------------------------------------------

    def write_config(self):
        os.makedirs(self.config_dir, exist_ok=True)
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            f.write(postfix_main_cf(self.dir, self.lmtp_destination, self.transports,
                                    self.local_domain))
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(postfix_master_cf(self.smtp_port, self.pipe_services))

    def postfix_command(self, *args, check=True, timeout=PROCESS_TIMEOUT):
        """Runs a Postfix command line tool against this instance (`-c` this config dir)."""
        tool, rest = args[0], args[1:]
        r = subprocess.run([f"/usr/sbin/{tool}", "-c", self.config_dir] + list(rest),
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(rest)} failed ({r.returncode}):\n"
                                 f"{r.stdout}{r.stderr}\n{self.diagnostics()}")
        return r

    def prepare(self):
        """Write the configuration and create the queue (`postfix check` makes the queue
        subdirectories and data_directory with their owners and modes). start() does it when
        not done yet; call it first when something must go into the queue directory before
        Postfix runs (postern's LMTP socket in queue/private)."""
        self.write_config()
        os.makedirs(self.queue_dir, exist_ok=True)
        self.postfix_command("postfix", "check")
        self.prepared = True

    def start(self):
        """Start master(8); returns once the SMTP port answers."""
        if not self.prepared:
            self.prepare()
        for _attempt in range(3):  # a free port can be taken between probing and binding
            try:
                return self._spawn()
            except PortTaken:
                self.smtp_port = free_port()
                self.write_config()
        raise AssertionError("postfix could not bind an SMTP port\n" + self.diagnostics())

    def _spawn(self):
        with open(self.master_output, "wb") as out:
            # A session of its own: master(8) signals its process group on SIGTERM, and cleanup
            # can reach any daemon that outlives it through that group.
            self.process = subprocess.Popen(
                [POSTFIX_MASTER, "-c", self.config_dir, "-d"], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                # Its reason went to syslog, which may not exist here: find out ourselves.
                if port_in_use(self.smtp_port):
                    raise PortTaken(self.smtp_port)
                raise AssertionError(f"postfix master exited with {self.process.returncode}\n"
                                     + self.diagnostics())
            try:
                with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=5) as s:
                    s.noop()
                return self
            except (OSError, smtplib.SMTPException) as e:
                last_error = e
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"postfix did not answer on 127.0.0.1:{self.smtp_port} within "
                             f"{START_TIMEOUT}s ({last_error})\n" + self.diagnostics())

    def stop(self, timeout=PROCESS_TIMEOUT):
        """SIGTERM to master (it passes it on to its daemons); SIGKILL to the group if slow."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers of the session we made
        except (ProcessLookupError, PermissionError):
            pass

    def cleanup(self):
        try:
            self.stop()
        finally:
            if os.environ.get("POSTERN_KEEP_TMP"):
                print(f"kept {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    # -- mail in --------------------------------------------------------------------------------

    def send(self, sender, recipients, message, mail_options=()):
        """One SMTP transaction; returns Postfix's queue ID. Fails unless every recipient and
        the message are accepted."""
        if isinstance(recipients, str):
            recipients = [recipients]
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=120) as s:
            s.ehlo("client.example.org")
            code, reply = s.mail(sender, list(mail_options))
            if code != 250:
                raise AssertionError(f"MAIL FROM:<{sender}> refused: {code} {reply!r}")
            for rcpt in recipients:
                code, reply = s.rcpt(rcpt)
                if code not in (250, 251):
                    raise AssertionError(f"RCPT TO:<{rcpt}> refused: {code} {reply!r}")
            code, reply = s.data(message)
            if code != 250:
                raise AssertionError(f"DATA refused: {code} {reply!r}")
        m = re.search(rb"queued as ([0-9A-Za-z]+)", reply)
        if not m:
            raise AssertionError(f"no queue ID in the DATA reply {reply!r}")
        return m.group(1).decode()

    def flush(self):
        """postqueue -f: retry every deferred message now."""
        self.postfix_command("postqueue", "-f")

    # -- queue and log --------------------------------------------------------------------------

    def queue(self):
        """The messages in the queue (postqueue -j), as dicts."""
        r = self.postfix_command("postqueue", "-j")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def wait_queue_empty(self, timeout=DELIVERY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            left = self.queue()
            if not left:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"queue not empty after {timeout}s: {left}\n"
                                     + self.diagnostics())
            time.sleep(0.3)

    def log_text(self):
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def deliveries(self, queue_id=None):
        """Every delivery attempt in the log (to=, dsn=, status=), optionally of one message."""
        out = []
        for line in self.log_text().splitlines():
            m = LOG_DELIVERY.search(line)
            if m and (queue_id is None or m.group("queue_id") == queue_id):
                out.append(m.groupdict())
        return out

    def wait_for_delivery(self, queue_id, recipient, status=None, timeout=DELIVERY_TIMEOUT,
                          after=0):
        """The first logged attempt (index >= `after` among the message's attempts to that
        recipient) as a dict with agent, to, relay, dsn, status and text. With `status`, fails
        if that attempt ended differently."""
        deadline = time.monotonic() + timeout
        while True:
            attempts = [d for d in self.deliveries(queue_id) if d["to"] == recipient]
            if len(attempts) > after:
                found = attempts[after]
                if status is not None and found["status"] != status:
                    raise AssertionError(f"{queue_id} to <{recipient}>: expected status={status},"
                                         f" got {found}\n" + self.diagnostics())
                return found
            if self.process.poll() is not None:
                raise AssertionError("postfix master died\n" + self.diagnostics())
            if time.monotonic() > deadline:
                raise AssertionError(f"no delivery attempt of {queue_id} to <{recipient}> "
                                     f"logged within {timeout}s\n" + self.diagnostics())
            time.sleep(0.2)

    def wait_for_log(self, pattern, timeout=DELIVERY_TIMEOUT):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_text())
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail log line matching {pattern!r} within {timeout}s\n"
                                     + self.diagnostics())
            time.sleep(0.2)

    def bounce_queue_id(self, queue_id, timeout=DELIVERY_TIMEOUT):
        """The queue ID of the non-delivery notification Postfix made for `queue_id`."""
        m = self.wait_for_log(rf": {queue_id}: sender non-delivery notification: ([0-9A-F]+)$",
                              timeout)
        return m.group(1)

    def diagnostics(self):
        """The mail log's tail and master's own output, for failure messages."""
        try:
            with open(self.master_output, errors="replace") as f:
                master = f.read()[-2000:]
        except FileNotFoundError:
            master = ""
        return (f"--- postfix mail log ({self.maillog}), last lines:\n{self.log_text()[-6000:]}"
                f"--- master output:\n{master}")
