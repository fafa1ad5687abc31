"""A private Dovecot POP3 server for tests and benchmarks: the reference peer postern is compared
with (issue 5's `postern fetch` tests, issue 6's side-by-side benchmark).

It runs Debian's dovecot-pop3d as a child of the test (`dovecot -F`, killed by PID), from a
configuration written into a temp dir: loopback only, its own base_dir and state_dir (so it never
meets a system Dovecot), users in a passwd-file with {PLAIN} secrets, Maildirs owned by the
unprivileged `nobody` (Dovecot refuses to access mail as root), optional POP3S and STLS with a
certificate from postern_harness.TestCertificates.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import postern_harness as h

DOVECOT = "/usr/sbin/dovecot"
MAIL_USER = "nobody"


def require_dovecot(test):
    """dovecot-pop3d is installed by scripts/install-deps --test: missing is a failure."""
    if not os.access(DOVECOT, os.X_OK):
        test.fail("dovecot is not installed (dovecot-pop3d); run scripts/install-deps --test")
    return DOVECOT


class DovecotFixture:
    """One Dovecot instance serving POP3 (and POP3S when given a certificate) on free loopback
    ports. `fixture = DovecotFixture({"alice": "secret"}); test.addCleanup(fixture.cleanup)`."""

    def __init__(self, users, certificate=None, private_key=None, extra_config="",
                 passwd_text=None, process_limit=10000):
        # passwd_text: the passwd-file verbatim instead of {PLAIN} lines from `users` (e.g. crypt
        # hashes, or the very file postern gets in the benchmark); process_limit: pop3 processes
        # (one per logged-in connection), raised by the benchmark's idle scenario.
        self.dir = tempfile.mkdtemp(prefix="postern-dovecot-")
        # Dovecot's unprivileged processes must reach the passwd-file and the maildirs.
        os.chmod(self.dir, 0o755)
        self.users = dict(users)
        self.certificate = certificate
        self.private_key = private_key
        self.extra_config = extra_config
        self.mail_root = os.path.join(self.dir, "mail")
        self.passwd_file = os.path.join(self.dir, "users")
        self.log_file = os.path.join(self.dir, "dovecot.log")
        self.config_file = os.path.join(self.dir, "dovecot.conf")
        self.port = None
        self.tls_port = None
        self.process = None
        self._counter = 0
        entry = pwd.getpwnam(MAIL_USER)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        for sub in ("run", "state", "home"):
            os.makedirs(os.path.join(self.dir, sub))
        os.makedirs(self.mail_root)
        os.chown(self.mail_root, self.uid, self.gid)
        os.chown(os.path.join(self.dir, "home"), self.uid, self.gid)
        self.process_limit = process_limit
        with open(self.passwd_file, "w", encoding="utf-8") as f:
            if passwd_text is not None:
                f.write(passwd_text)
            else:
                f.writelines(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items())

    def maildir(self, user):
        return os.path.join(self.mail_root, user)

    def add_message(self, user, data):
        """Puts a message into the user's new/ the Maildir way (tmp/, rename), owned by the mail
        user so Dovecot may move and delete it. Returns the file name."""
        md = self.maildir(user)
        for sub in ("", "tmp", "new", "cur"):
            path = os.path.join(md, sub)
            os.makedirs(path, exist_ok=True)
            os.chown(path, self.uid, self.gid)
        self._counter += 1
        name = f"{int(time.time())}.M{self._counter:06d}P{os.getpid()}.dovecot-test"
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chown(tmp, self.uid, self.gid)
        os.rename(tmp, os.path.join(md, "new", name))
        return name

    def message_files(self, user):
        md = self.maildir(user)
        return sorted(n for sub in ("new", "cur") if os.path.isdir(os.path.join(md, sub))
                      for n in os.listdir(os.path.join(md, sub)))

    def _config_text(self):
        tls = self.certificate is not None
        lines = [
            f"base_dir = {self.dir}/run",
            f"state_dir = {self.dir}/state",
            f"instance_name = postern-test-{os.path.basename(self.dir)}",
            "protocols = pop3",
            "listen = 127.0.0.1",
            f"log_path = {self.log_file}",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            "passdb {", "  driver = passwd-file", f"  args = scheme=PLAIN {self.passwd_file}", "}",
            "userdb {", "  driver = static",
            f"  args = uid={self.uid} gid={self.gid} home={self.dir}/home/%u", "}",
            f"mail_location = maildir:{self.mail_root}/%u",
            "first_valid_uid = 1",
            "default_internal_user = dovecot",
            "default_login_user = dovenull",
            # What Debian's default gives and most installations keep.
            "pop3_uidl_format = %08Xu%08Xv",
            # Benchmarks open many sessions: no per-IP cap, enough login and pop3 processes.
            "mail_max_userip_connections = 100000",
            "service pop3-login {",
            "  inet_listener pop3 {", f"    port = {self.port}", "  }",
            "  inet_listener pop3s {", f"    port = {self.tls_port if tls else 0}",
            "    ssl = yes", "  }",
            "}",
            "service pop3 {", f"  process_limit = {self.process_limit}", "}",
            "service imap-login {", "  inet_listener imap {", "    port = 0", "  }",
            "  inet_listener imaps {", "    port = 0", "  }", "}",
        ]
        if tls:
            lines += ["ssl = yes", f"ssl_cert = <{self.certificate}", f"ssl_key = <{self.private_key}"]
        else:
            lines += ["ssl = no"]
        return "\n".join(lines) + "\n" + self.extra_config

    def start(self):
        """Starts Dovecot and returns once its POP3 port answers with a greeting."""
        for _attempt in range(3):
            self.port = h.free_port()
            self.tls_port = h.free_port() if self.certificate else None
            with open(self.config_file, "w", encoding="utf-8") as f:
                f.write(self._config_text())
            self.process = subprocess.Popen([DOVECOT, "-F", "-c", self.config_file],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE)
            if self._wait_ready():
                return self
            self.stop()
        raise AssertionError(f"dovecot did not start:\n{self.log_text()}")

    def _wait_ready(self):
        deadline = time.monotonic() + h.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(100).startswith(b"+OK"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def log_text(self):
        text = ""
        if os.path.exists(self.log_file):
            with open(self.log_file, encoding="utf-8", errors="replace") as f:
                text = f.read()
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            text += self.process.stderr.read().decode(errors="replace")
        return text

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=h.PROCESS_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
