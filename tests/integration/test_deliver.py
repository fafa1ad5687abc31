"""`postern deliver`, the real binary as an MTA runs it: a message on stdin, sysexits codes out.

Each test checks what landed in the maildir byte for byte (and, where it matters, what a POP3
client then gets), and for each failure the exit code and the single stderr line the MTA quotes.
Read-only and full file systems are real tmpfs mounts (we run as root, in CI too).
"""

import hashlib
import os
import re
import subprocess
import tempfile
import threading
import unittest

from postern_harness import (PROCESS_TIMEOUT, ServerFixture, postern_bin, require_postern,
                             wire_form)

NAME_RX = re.compile(r"^\d+\.M\d{1,6}P\d+Q\d+\.[^/:]+,S=(\d+),W=(\d+)$")

MESSAGE = (b"From: Bob <bob@example.net>\n"
           b"To: alice@example.org\n"
           b"Subject: delivered\n"
           b"\n"
           b"Hello Alice,\n"
           b".a line starting with a dot\n"
           b"\n"
           b"bye\n")


def run_deliver(config_file, user, data, *args, stdin=None):
    """Runs `postern deliver`; returns CompletedProcess with bytes stdout/stderr."""
    argv = [postern_bin(), "deliver", "--config", config_file]
    if user is not None:
        argv += ["--user", user]
    argv += list(args)
    if stdin is not None:
        return subprocess.run(argv, stdin=stdin, capture_output=True, timeout=PROCESS_TIMEOUT)
    return subprocess.run(argv, input=data, capture_output=True, timeout=PROCESS_TIMEOUT)


def mount_tmpfs(test, directory, options):
    """Mounts a tmpfs (unmounted at cleanup). A failure fails the test: CI runs as root."""
    os.makedirs(directory, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", directory],
                       capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    if r.returncode != 0:
        test.fail(f"cannot mount a tmpfs at {directory} ({options}): {r.stderr.strip()}; "
                  "this test needs root with CAP_SYS_ADMIN (as in CI)")
    test.addCleanup(subprocess.run, ["umount", directory], capture_output=True,
                    timeout=PROCESS_TIMEOUT)


class DeliverTestCase(unittest.TestCase):
    """A fixture with users and a config; no server unless a test starts one."""

    passwd_extra = {}  # user -> extra fields text
    delivery = None    # [delivery] table text
    maildir_template = "%u"

    def setUp(self):
        require_postern(self)
        self.fixture = ServerFixture(maildir_template=self.maildir_template)
        self.addCleanup(self.fixture.cleanup)
        if self.passwd_extra:
            self.write_users(self.passwd_extra)
        self.write_config()

    def write_users(self, extra):
        text = "".join(self.fixture.passwd_line(u, p).rstrip("\n") + extra.get(u, "") + "\n"
                       for u, p in self.fixture.users.items())
        with open(self.fixture.passwd_file, "w", encoding="utf-8") as f:
            f.write(text)

    def write_config(self, delivery=None, **kw):
        delivery = self.delivery if delivery is None else delivery
        extra = f"\n[delivery]\n{delivery}\n" if delivery else ""
        return self.fixture.write_config(extra=extra, **kw)

    def deliver(self, user, data=MESSAGE, *args, **kw):
        return run_deliver(self.fixture.config_file, user, data, *args, **kw)

    def assert_delivered(self, r):
        self.assertEqual(r.returncode, 0, f"stderr: {r.stderr!r}")
        self.assertEqual(r.stderr, b"", "nothing on stderr after a delivery")
        self.assertEqual(r.stdout, b"", "nothing on stdout after a delivery")

    def assert_failed(self, r, code, line_pattern):
        """The exit code, and exactly one stderr line `<code> postern deliver: <reason>` (the code
        first, so that Postfix's pipe(8) takes it); line_pattern is "<code regex> <reason regex>"."""
        self.assertEqual(r.returncode, code, f"stderr: {r.stderr!r}")
        text = r.stderr.decode("utf-8", "replace")
        self.assertTrue(text.endswith("\n") and text.count("\n") == 1,
                        f"expected exactly one stderr line, got {text!r}")
        code_pattern, reason_pattern = line_pattern.split(" ", 1)
        self.assertRegex(text.rstrip("\n"), rf"^{code_pattern} postern deliver: {reason_pattern}")
        self.assertEqual(r.stdout, b"")

    def new_files(self, user, maildir=None):
        d = os.path.join(maildir or self.fixture.maildir(user), "new")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def stored(self, user):
        """The one message in new/, after checking its name's sizes against its content."""
        names = self.new_files(user)
        self.assertEqual(len(names), 1, names)
        with open(os.path.join(self.fixture.maildir(user), "new", names[0]), "rb") as f:
            data = f.read()
        m = NAME_RX.match(names[0])
        self.assertIsNotNone(m, names[0])
        self.assertEqual(int(m.group(1)), len(data), "S= is the stored size")
        # The POP3 size; an empty message stays empty (no CRLF is added to nothing).
        self.assertEqual(int(m.group(2)), len(wire_form(data)) if data else 0,
                         "W= is the POP3 size")
        return data


class Delivery(DeliverTestCase):
    def test_delivered_byte_identical_and_retrieved_over_pop3(self):
        self.assert_delivered(self.deliver("alice"))
        self.assertEqual(self.stored("alice"), MESSAGE)
        self.assertEqual(os.listdir(os.path.join(self.fixture.maildir("alice"), "tmp")), [])
        self.fixture.start()
        c = self.fixture.login("alice")
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("STAT"), b"+OK 1 %d" % len(wire_form(MESSAGE)))
        self.assertTrue(c.cmd("RETR 1").startswith(b"+OK"))
        self.assertEqual(c.read_multiline(), wire_form(MESSAGE))

    def test_from_line_is_stripped_and_gives_the_sender(self):
        from_line = b"From bob@example.net  Thu Nov 26 12:00:00 2026\n"
        self.assert_delivered(self.deliver("alice", from_line + MESSAGE))
        self.assertEqual(self.stored("alice"), b"Return-Path: <bob@example.net>\n" + MESSAGE)

    def test_sender_option_wins_over_the_from_line(self):
        from_line = b"From bob@example.net Thu Nov 26 12:00:00 2026\r\n"
        self.assert_delivered(self.deliver("alice", from_line + MESSAGE, "-f", "carol@example.com"))
        self.assertEqual(self.stored("alice"), b"Return-Path: <carol@example.com>\n" + MESSAGE)

    def test_from_mailer_daemon_is_the_null_sender(self):
        data = b"From MAILER-DAEMON Thu Nov 26 12:00:00 2026\n" + MESSAGE
        self.assert_delivered(self.deliver("alice", data))
        self.assertEqual(self.stored("alice"), b"Return-Path: <>\n" + MESSAGE)

    def test_only_a_leading_from_line_is_envelope(self):
        data = MESSAGE + b"From here on, body text\n"
        self.assert_delivered(self.deliver("alice", data))
        self.assertEqual(self.stored("alice"), data)

    def test_dovecot_lda_options(self):
        self.assert_delivered(self.deliver("alice", MESSAGE, "-f", "bob@example.net",
                                           "-a", "alice@example.org"))
        self.assertEqual(self.stored("alice"),
                         b"Return-Path: <bob@example.net>\nDelivered-To: alice@example.org\n"
                         + MESSAGE)

    def test_long_options_and_user_alias(self):
        r = run_deliver(self.fixture.config_file, None, MESSAGE, "-d", "bob",
                        "--sender", "<carol@example.com>", "--recipient", "bob@example.org")
        self.assert_delivered(r)
        self.assertEqual(self.stored("bob"),
                         b"Return-Path: <carol@example.com>\nDelivered-To: bob@example.org\n"
                         + MESSAGE)

    def test_null_sender(self):
        for user, sender in (("alice", ""), ("bob", "<>")):
            self.assert_delivered(self.deliver(user, MESSAGE, "-f", sender))
            self.assertEqual(self.stored(user), b"Return-Path: <>\n" + MESSAGE, sender)

    def test_crlf_input_is_stored_as_lf_and_retrieved_as_crlf(self):
        crlf = MESSAGE.replace(b"\n", b"\r\n") + b"a lone \r stays\r\n"
        self.assert_delivered(self.deliver("alice", crlf))
        self.assertEqual(self.stored("alice"), MESSAGE + b"a lone \r stays\n")
        self.fixture.start()
        c = self.fixture.login("alice")
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("RETR 1").startswith(b"+OK"))
        self.assertEqual(c.read_multiline(), crlf)

    def test_address_falls_back_to_the_local_part(self):
        self.assert_delivered(self.deliver("carol@example.org"))
        self.assertEqual(self.stored("carol"), MESSAGE)

    def test_empty_message(self):
        self.assert_delivered(self.deliver("alice", b""))
        self.assertEqual(self.stored("alice"), b"")

    def test_ten_megabyte_message(self):
        line = b"0123456789" * 9 + b"abcdefgh\n"
        data = b"Subject: big\n\n" + line * (10 * 1024 * 1024 // len(line))
        self.assert_delivered(self.deliver("alice", data))
        self.assertEqual(hashlib.sha256(self.stored("alice")).hexdigest(),
                         hashlib.sha256(data).hexdigest())

    def test_concurrent_deliveries_all_land(self):
        count = 20
        procs = []
        for i in range(count):
            p = subprocess.Popen([postern_bin(), "deliver", "--config", self.fixture.config_file,
                                  "--user", "alice"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            procs.append((p, b"Subject: %d\n\nmessage number %d\n" % (i, i)))
        results = [None] * count

        def feed(i):
            p, data = procs[i]
            results[i] = p.communicate(data, timeout=PROCESS_TIMEOUT)

        threads = [threading.Thread(target=feed, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PROCESS_TIMEOUT)
        for (p, _), res in zip(procs, results):
            self.assertEqual(p.returncode, 0, res and res[1])
        names = self.new_files("alice")
        self.assertEqual(len(names), count)
        self.assertEqual(len(set(names)), count)
        contents = set()
        for n in names:
            with open(os.path.join(self.fixture.maildir("alice"), "new", n), "rb") as f:
                contents.add(f.read())
        self.assertEqual(contents, {data for _, data in procs})
        self.assertEqual(os.listdir(os.path.join(self.fixture.maildir("alice"), "tmp")), [])

    def test_delivery_while_a_pop3_session_is_open(self):
        self.fixture.add_message("alice", b"Subject: first\n\none\n")
        self.fixture.start()
        c = self.fixture.login("alice")
        self.addCleanup(c.close)
        stat_before = c.cmd("STAT")
        self.assertTrue(stat_before.startswith(b"+OK 1 "), stat_before)
        self.assert_delivered(self.deliver("alice"))
        self.assertEqual(c.cmd("STAT"), stat_before, "the open session's snapshot is unchanged")
        self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))
        c.close()
        c2 = self.fixture.login("alice")
        self.addCleanup(c2.close)
        self.assertTrue(c2.cmd("STAT").startswith(b"+OK 2 "))
        self.assertTrue(c2.cmd("RETR 2").startswith(b"+OK"))
        self.assertEqual(c2.read_multiline(), wire_form(MESSAGE))


class Failures(DeliverTestCase):
    def test_unknown_user(self):
        r = self.deliver("nobody")
        self.assert_failed(r, 67, r"5\.1\.1 unknown user nobody$")
        self.assertEqual(os.listdir(self.fixture.mail_root), [])

    def test_invalid_user_names_are_unknown(self):
        for name in ("../alice", "a/b", "alice\nbob", ""):
            r = self.deliver(name)
            self.assert_failed(r, 67, r"5\.1\.1 unknown user ")
        self.assertEqual(os.listdir(self.fixture.mail_root), [])

    def test_local_part_fallback_off(self):
        self.write_config(delivery="local_part_fallback = false")
        self.assert_failed(self.deliver("alice@example.org"), 67,
                           r"5\.1\.1 unknown user alice@example.org$")

    def test_too_large(self):
        self.write_config(delivery='max_message_size = "1k"')
        data = b"Subject: x\n\n" + b"y" * 2000 + b"\n"
        self.assert_failed(self.deliver("alice", data), 77,
                           r"5\.3\.4 message too large: more than 1024 bytes, the limit is 1k$")
        self.assertEqual(self.new_files("alice"), [])
        # Exactly the limit, as stored (CRLF counts as LF), is accepted.
        exact = b"z" * 1023 + b"\n"
        self.assert_delivered(self.deliver("alice", exact.replace(b"\n", b"\r\n")))
        self.assertEqual(self.stored("alice"), exact)

    def test_endless_input_stops_at_the_limit(self):
        self.write_config(delivery='max_message_size = "64k"')
        p = subprocess.Popen([postern_bin(), "deliver", "--config", self.fixture.config_file,
                              "--user", "alice"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(p.stderr.close)
        chunk = b"x" * 65536
        try:
            for _ in range(16 * 1024):  # 1 GiB at most: postern must stop reading long before
                p.stdin.write(chunk)
        except BrokenPipeError:
            pass
        finally:
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
        err = p.stderr.read()  # one line, then EOF when postern exits
        self.assertEqual(p.wait(PROCESS_TIMEOUT), 77, err)
        self.assertRegex(err.decode(), r"^5\.3\.4 postern deliver: message too large")
        self.assertEqual(self.new_files("alice"), [])

    def test_bad_config(self):
        with open(self.fixture.config_file, "a", encoding="utf-8") as f:
            f.write("\n[delivery]\nquota_exceeded = \"sometimes\"\n")
        r = self.deliver("alice")
        # 75, not 78: the MTA keeps the mail queued until the file is fixed instead of bouncing it.
        self.assert_failed(r, 75, r"4\.3\.5 .*postern\.toml.*delivery\.quota_exceeded")
        missing = os.path.join(self.fixture.dir, "missing.toml")
        r = run_deliver(missing, "alice", MESSAGE)
        self.assert_failed(r, 75, r"4\.3\.5 .*missing\.toml")
        self.assertEqual(os.listdir(self.fixture.mail_root), [])

    def test_usage(self):
        r = run_deliver(self.fixture.config_file, None, MESSAGE)
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn(b"--user", r.stderr)
        r = self.deliver("alice", MESSAGE, "--no-such-option")
        self.assertEqual(r.returncode, 64, r.stderr)
        r = self.deliver("alice", MESSAGE, "-f", "bob@example.net\nBcc: x@example.org")
        self.assert_failed(r, 64, r"5\.5\.4 --sender holds a control character")
        r = self.deliver("alice", MESSAGE, "-a", "alice@example.org\rX: y")
        self.assert_failed(r, 64, r"5\.5\.4 --recipient holds a control character")
        self.assertEqual(os.listdir(self.fixture.mail_root), [])

    def test_passwd_file_unreadable_defers(self):
        os.remove(self.fixture.passwd_file)
        self.assert_failed(self.deliver("alice"), 75,
                           r"4\.3\.0 user database unavailable: passwd-file .*users")

    def test_standard_input_error(self):
        fd = os.open(self.fixture.dir, os.O_RDONLY | os.O_DIRECTORY)  # read() gives EISDIR
        try:
            r = self.deliver("alice", None, stdin=fd)
        finally:
            os.close(fd)
        self.assert_failed(r, 74,
                           r"5\.3\.0 cannot read the message from standard input: Is a directory$")
        self.assertEqual(self.new_files("alice"), [])


class Quotas(DeliverTestCase):
    passwd_extra = {
        "alice": "userdb_quota_rule=*:storage=1k",
        "bob": "userdb_quota_rule=*:messages=2",
        "carol": "userdb_quota_rule=*:storage=10%",
    }

    def test_over_the_per_user_byte_quota_bounces(self):
        half = b"Subject: half\n\n" + b"h" * 497 + b"\n"  # 513 bytes
        self.assert_delivered(self.deliver("alice", half))
        self.assert_failed(self.deliver("alice", half), 77,
                           r"5\.2\.2 mailbox full: quota of 1k exceeded$")
        self.assertEqual(len(self.new_files("alice")), 1)
        # What still fits up to the byte is accepted.
        self.assert_delivered(self.deliver("alice", b"x" * (1024 - 513)))

    def test_over_the_per_user_message_quota_bounces(self):
        self.assert_delivered(self.deliver("bob"))
        self.assert_delivered(self.deliver("bob"))
        self.assert_failed(self.deliver("bob"), 77,
                           r"5\.2\.2 mailbox full: quota of 2 messages exceeded$")
        self.assertEqual(len(self.new_files("bob")), 2)

    def test_quota_exceeded_defer(self):
        self.write_config(delivery='quota_exceeded = "defer"')
        self.assert_delivered(self.deliver("bob"))
        self.assert_delivered(self.deliver("bob"))
        self.assert_failed(self.deliver("bob"), 75,
                           r"4\.2\.2 mailbox full: quota of 2 messages exceeded$")

    def test_server_wide_default(self):
        # alice's own field wins over the default; the default applies to users without one.
        self.write_users({"alice": "userdb_quota_rule=*:storage=1M:messages=0"})
        self.write_config(delivery='quota_messages = 1\nquota_bytes = "1k"')
        self.assert_delivered(self.deliver("bob"))
        self.assert_failed(self.deliver("bob"), 77, r"5\.2\.2 mailbox full")
        for _ in range(3):
            self.assert_delivered(self.deliver("alice", b"y" * 2000))

    def test_malformed_quota_field_defers(self):
        self.assert_failed(self.deliver("carol"), 75,
                           r"4\.3\.0 user carol: quota field "
                           r"\"userdb_quota_rule=\*:storage=10%\": percentage")
        self.assertEqual(self.new_files("carol"), [])


class FileSystems(DeliverTestCase):
    """A maildrop on its own tmpfs: read-only (root cannot write there either) or tiny."""

    def setUp(self):
        super().setUp()
        self.mount_dir = os.path.join(self.fixture.dir, "mnt")
        self.write_config(mail={"maildir": os.path.join(self.mount_dir, "%u")})

    def test_read_only_maildrop(self):
        mount_tmpfs(self, self.mount_dir, "size=1m,ro")
        self.assert_failed(self.deliver("alice"), 73,
                           r"5\.2\.0 cannot create .*: Read-only file system$")

    def test_full_disk_defers_and_leaves_nothing(self):
        mount_tmpfs(self, self.mount_dir, "size=64k")
        data = b"Subject: too big for the disk\n\n" + b"z" * (200 * 1024) + b"\n"
        self.assert_failed(self.deliver("alice", data), 75,
                           r"4\.3\.0 cannot write .*: No space left on device$")
        maildir = os.path.join(self.mount_dir, "alice")
        for sub in ("tmp", "new", "cur"):
            self.assertEqual(os.listdir(os.path.join(maildir, sub)), [], sub)
        # The disk has room again for a small message.
        self.assert_delivered(self.deliver("alice"))
        self.assertEqual(len(self.new_files("alice", maildir)), 1)


if __name__ == "__main__":
    unittest.main()
