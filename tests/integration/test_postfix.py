"""Mail from a real Postfix into postern maildrops, read back over POP3.

Two ways in, both as docs/delivery.md configures them: LMTP (Postfix's virtual_transport to a
postern [[lmtp]] listener, TCP and unix socket) and `postern deliver` as a pipe(8) transport.
Every message read back must be the bytes sent, behind exactly the header lines Postfix and
postern add. Failures are checked in Postfix's own terms: the mail log's status=sent, bounced or
deferred, the queue, and the bounce message that reaches the sender.

postern serves as the unprivileged user `nobody` (as in production it would be a user of its
own), which is also the user pipe(8) runs `postern deliver` as: both write the same maildirs.
"""

import grp
import os
import pwd
import re
import socket
import time
import unittest

from postern_harness import START_TIMEOUT, ServerFixture, free_port, postern_bin
from postfix_harness import (DELIVER_USER, POSTFIX_MASTER, PostfixFixture,
                             share_with_deliver_user)

SENDER = "sender@example.org"
DATE = "Thu, 26 Nov 2026 12:00:00 +0000"

# name: (password, extra passwd-file fields)
USERS = {
    "alice": ("alice-pw", ""),
    "bob": ("bob-pw", ""),
    "carol": ("carol-pw", ""),
    "dave": ("dave-pw", ""),
    "erin": ("erin-pw", ""),
    "frank": ("frank-pw", ""),
    "tiny": ("tiny-pw", "userdb_quota_rule=*:storage=2k"),
    "small": ("small-pw", "quota_bytes=2k"),
    "returns": ("returns-pw", ""),
    "returns2": ("returns2-pw", ""),
    "returns3": ("returns3-pw", ""),
    "pia": ("pia-pw", ""),
    "pete": ("pete-pw", ""),
    "pipetiny": ("pipetiny-pw", "quota_bytes=2k"),
    "gina": ("gina-pw", ""),
}


def passwd_text(users, uid, gid, home_root):
    return "".join(f"{name}:{{PLAIN}}{pw}:{uid}:{gid}::{home_root}/{name}::{extra}\n"
                   for name, (pw, extra) in users.items())


def make_message(subject, body, extra_headers=b""):
    """A message with Message-ID and Date of its own, so Postfix adds neither; CRLF line ends."""
    if isinstance(body, str):
        body = body.encode()
    ident = re.sub(r"\W+", "-", subject.lower()).strip("-")
    head = (f"From: Sender <{SENDER}>\r\nTo: rcpt@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <{ident}@client.example.org>\r\nDate: {DATE}\r\n").encode()
    return head + extra_headers + b"\r\n" + body


def header_fields(block):
    """CRLF header lines -> [(name, unfolded value)], continuation lines joined."""
    fields = []
    for line in block.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.decode().strip())
        else:
            name, _, value = line.decode().partition(":")
            fields.append((name, value.strip()))
    return fields


def user_ids(name):
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def wait_connectable(address, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    while True:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(address)
                return
        except OSError as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"postern's LMTP listener {address} not reachable: {e}")
            time.sleep(0.1)


class PostfixTestCase(unittest.TestCase):
    """postern serve (POP3 + LMTP) and a private Postfix, shared by the tests of one class:
    each test uses users of its own."""

    delivery = {}          # the [delivery] table
    lmtp_unix = False      # LMTP over a unix socket in Postfix's queue/private, else TCP
    local_domain = None    # also a local(8) domain handed to postern by mailbox_transport
    broken_pipe = False    # broken.example.org: `postern deliver -c` a config that is missing

    @classmethod
    def setUpClass(cls):
        if not os.access(postern_bin(), os.X_OK):
            raise AssertionError(f"postern binary not found at {postern_bin()} (build it, or set "
                                 "POSTERN_BIN)")
        if not os.path.exists(POSTFIX_MASTER):
            raise AssertionError(f"{POSTFIX_MASTER} is missing: install postfix with "
                                 "scripts/install-deps --test")
        uid, gid = user_ids(DELIVER_USER)
        cls.server = ServerFixture(users={u: pw for u, (pw, _) in USERS.items()},
                                   passwd_text="")
        cls.addClassCleanup(cls.server.cleanup)
        share_with_deliver_user(cls.server.dir)
        cls.users = dict(USERS)
        with open(cls.server.passwd_file, "w") as f:
            f.write(passwd_text(cls.users, uid, gid, os.path.join(cls.server.dir, "home")))
        os.chown(cls.server.mail_root, uid, gid)

        extra_pipes = {}
        if cls.broken_pipe:
            extra_pipes["broken.example.org"] = os.path.join(cls.server.dir, "missing.toml")
        if cls.lmtp_unix:
            destination = "unix:private/postern-lmtp"
        else:
            cls.lmtp_port = free_port()
            cls.lmtp_address = ("127.0.0.1", cls.lmtp_port)
            destination = f"inet:127.0.0.1:{cls.lmtp_port}"
            lmtp_table = f'[[lmtp]]\naddress = "127.0.0.1:{cls.lmtp_port}"\n'
        cls.postfix = PostfixFixture(destination, postern_bin(), cls.server.config_file,
                                     local_domain=cls.local_domain, extra_pipes=extra_pipes)
        cls.addClassCleanup(cls.postfix.cleanup)
        if cls.lmtp_unix:
            # Postfix's queue must exist first: the socket goes into its private/ directory.
            cls.postfix.prepare()
            cls.lmtp_address = os.path.join(cls.postfix.queue_dir, "private", "postern-lmtp")
            lmtp_table = (f'[[lmtp]]\naddress = "{cls.lmtp_address}"\nmode = "0660"\n'
                          'group = "postfix"\n')
        delivery = "[delivery]\n" + "".join(f'{k} = "{v}"\n' for k, v in cls.delivery.items())
        cls.server_config = {"server": {"user": DELIVER_USER}, "extra": lmtp_table + delivery}
        cls.server.start(**cls.server_config)
        wait_connectable(cls.lmtp_address)
        cls.postfix.start()

    # -- helpers ------------------------------------------------------------------------------

    def fail_with_logs(self, text):
        self.fail(f"{text}\n{self.postfix.diagnostics()}\n--- postern log:\n"
                  + self.server.log_text()[-4000:])

    def retrieve_all(self, user):
        """Every message of `user` over POP3 (RETR, dot-stuffing undone), checked against LIST."""
        c = self.server.login(user)
        try:
            status = c.cmd("STAT")
            self.assertTrue(status.startswith(b"+OK"), status)
            count = int(status.split()[1])
            messages = []
            for n in range(1, count + 1):
                listed = c.cmd(f"LIST {n}")
                self.assertTrue(listed.startswith(b"+OK"), listed)
                self.assertTrue(c.cmd(f"RETR {n}").startswith(b"+OK"))
                data = c.read_multiline()
                self.assertEqual(int(listed.split()[2]), len(data), f"LIST {n} size vs RETR")
                messages.append(data)
            self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))
            return messages
        finally:
            c.close()

    def retrieve_one(self, user):
        messages = self.retrieve_all(user)
        if len(messages) != 1:
            self.fail_with_logs(f"{user} has {len(messages)} messages, expected 1")
        return messages[0]

    def assert_arrived_intact(self, stored, sent, queue_id, sender, recipient, for_clause=True):
        """`stored` is `sent` behind exactly: Return-Path and Delivered-To (postern), then
        Postfix's Received line for this queue ID. Nothing else added, nothing changed."""
        if not stored.endswith(sent):
            self.fail_with_logs(f"the message changed on the way: sent {len(sent)} bytes "
                                f"ending {sent[-60:]!r}, stored {len(stored)} bytes ending "
                                f"{stored[-60:]!r}")
        added = header_fields(stored[:len(stored) - len(sent)])
        self.assertEqual([name for name, _ in added], ["Return-Path", "Delivered-To", "Received"],
                         f"header lines added in front: {added}")
        self.assertEqual(added[0][1], f"<{sender}>")
        self.assertEqual(added[1][1], recipient)
        received = (r"from client\.example\.org \(unknown \[127\.0\.0\.1\]\) by mx\.example\.org "
                    rf"\(Postfix\) with ESMTP id {queue_id}")
        if for_clause:
            received += rf" for <{re.escape(recipient)}>"
        self.assertRegex(added[2][1], "^" + received + r"; \w{3}, \d+ \w{3} \d{4} ")

    def assert_bounce(self, queue_id, bounce_user, failed_recipient, status_code, subject,
                      domain="example.org"):
        """Postfix made a non-delivery notification for `queue_id` and it reached bounce_user
        (at `domain`), naming the recipient and the status, with the original headers."""
        bounce_id = self.postfix.bounce_queue_id(queue_id)
        self.postfix.wait_for_delivery(bounce_id, f"{bounce_user}@{domain}", status="sent")
        bounce = self.retrieve_one(bounce_user)
        fields = header_fields(bounce[:bounce.index(b"\r\n\r\n") + 2])
        self.assertEqual(fields[0], ("Return-Path", "<>"), "a bounce has the null sender")
        self.assertIn(("Delivered-To", f"{bounce_user}@{domain}"), fields)
        self.assertIn(b"Content-Type: multipart/report; report-type=delivery-status", bounce)
        self.assertIn(f"Final-Recipient: rfc822; {failed_recipient}".encode(), bounce)
        self.assertIn(b"Action: failed", bounce)
        self.assertIn(f"Status: {status_code}".encode(), bounce)
        self.assertIn(f"Subject: {subject}".encode(), bounce, "the original headers come back")
        return bounce

    def check_delivery_during_session(self, user, rcpt):
        """A POP3 session holds the maildrop while Postfix delivers: the delivery succeeds, the
        open session keeps the view it had, the next session sees the message."""
        c = self.server.login(user)
        try:
            self.assertEqual(c.cmd("STAT"), b"+OK 0 0")
            message = make_message(f"while {user} reads", "Arrived during a session.\r\n")
            queue_id = self.postfix.send(SENDER, rcpt, message)
            self.postfix.wait_for_delivery(queue_id, rcpt, status="sent")
            self.assertEqual(c.cmd("STAT"), b"+OK 0 0", "the open session's view is fixed")
            self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))
        finally:
            c.close()
        self.assert_arrived_intact(self.retrieve_one(user), message, queue_id, SENDER, rcpt)

    def raise_quota(self, user, extra):
        """Rewrite `user`'s extra fields in the passwd-file (atomically, as an editor would)."""
        self.users[user] = (self.users[user][0], extra)
        uid, gid = user_ids(DELIVER_USER)
        tmp = self.server.passwd_file + ".new"
        with open(tmp, "w") as f:
            f.write(passwd_text(self.users, uid, gid, os.path.join(self.server.dir, "home")))
        os.rename(tmp, self.server.passwd_file)

    def flush_until_sent(self, queue_id, recipient, first_attempt):
        """postqueue -f until the message's next attempt is status=sent. postern re-reads a
        changed passwd-file at most once a second, so an attempt right after the edit may still
        be deferred: try again, a bounded number of times."""
        attempt = first_attempt
        for _ in range(20):
            self.postfix.flush()
            found = self.postfix.wait_for_delivery(queue_id, recipient, after=attempt)
            if found["status"] == "sent":
                return found
            self.assertEqual(found["status"], "deferred", found)
            attempt += 1
            time.sleep(0.5)
        self.fail_with_logs(f"{queue_id} to <{recipient}> still deferred after 20 flushes")


class LmtpDeliveryTest(PostfixTestCase):
    """Postfix -> LMTP over TCP -> postern; default quota policy (bounce)."""

    def deliver_and_check(self, user, message, mail_options=()):
        rcpt = f"{user}@example.org"
        queue_id = self.postfix.send(SENDER, rcpt, message, mail_options)
        found = self.postfix.wait_for_delivery(queue_id, rcpt, status="sent")
        self.assertEqual(found["agent"], "lmtp")
        self.assertEqual(found["relay"], f"127.0.0.1[127.0.0.1]:{self.lmtp_port}")
        self.assertEqual(found["dsn"], "2.0.0")
        self.assert_arrived_intact(self.retrieve_one(user), message, queue_id, SENDER, rcpt)

    def test_plain_message(self):
        self.deliver_and_check("alice", make_message("plain", "Hello Alice,\r\n\r\nthree lines"
                                                     "\r\nof plain text.\r\n"))

    def test_lines_starting_with_a_dot(self):
        body = (".\r\n..\r\n.leading dot\r\n..two dots\r\nmiddle . dot\r\n. \r\n"
                "last line before the end\r\n.\r\n")
        self.deliver_and_check("bob", make_message("dots", body))

    def test_8bit_utf8_body(self):
        body = "Grüße aus Köln — ça va? 日本語のテキスト, ελληνικά.\r\nSecond line: ø æ å ß\r\n"
        message = make_message("eight bit", body.encode("utf-8"),
                               b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               b"Content-Transfer-Encoding: 8bit\r\n")
        # Unchanged only if postern's LHLO offers 8BITMIME: otherwise Postfix converts the body
        # to quoted-printable on the way.
        self.deliver_and_check("carol", message, mail_options=["BODY=8BITMIME"])

    def test_10_mb_message(self):
        line = bytes(33 + j % 94 for j in range(76))  # printable ASCII, 76 per line
        body = b"".join(b"%08d " % i + line + b"\r\n" for i in range(10 * 1024 * 1024 // 86 + 1))
        message = make_message("ten megabytes", body)
        self.assertGreater(len(message), 10 * 1024 * 1024)
        self.deliver_and_check("dave", message)

    def test_two_recipients_in_one_transaction(self):
        message = make_message("two recipients", "For Erin and Frank.\r\n")
        rcpts = ["erin@example.org", "frank@example.org"]
        queue_id = self.postfix.send(SENDER, rcpts, message)
        for rcpt in rcpts:
            self.postfix.wait_for_delivery(queue_id, rcpt, status="sent")
        for rcpt in rcpts:
            # Postfix writes "for <rcpt>" in Received only when there is a single recipient.
            self.assert_arrived_intact(self.retrieve_one(rcpt.split("@")[0]), message, queue_id,
                                       SENDER, rcpt, for_clause=False)

    def test_unknown_user_bounces(self):
        message = make_message("to nobody", "Nobody reads this.\r\n")
        queue_id = self.postfix.send("returns@example.org", "nosuchuser@example.org", message)
        found = self.postfix.wait_for_delivery(queue_id, "nosuchuser@example.org",
                                               status="bounced")
        self.assertEqual(found["dsn"], "5.1.1")
        self.assertIn("said: 550 5.1.1", found["text"])
        self.assert_bounce(queue_id, "returns", "nosuchuser@example.org", "5.1.1", "to nobody")

    def test_over_quota_bounces(self):
        message = make_message("too big for tiny", ("y" * 70 + "\r\n") * 60)
        queue_id = self.postfix.send("returns2@example.org", "tiny@example.org", message)
        found = self.postfix.wait_for_delivery(queue_id, "tiny@example.org", status="bounced")
        self.assertEqual(found["dsn"], "5.2.2")
        self.assertIn("said: 552 5.2.2", found["text"])
        self.assert_bounce(queue_id, "returns2", "tiny@example.org", "5.2.2", "too big for tiny")
        self.assertEqual(self.retrieve_all("tiny"), [], "nothing was stored for tiny")

    def test_known_and_unknown_recipient_in_one_transaction(self):
        message = make_message("half known", "One of two.\r\n")
        queue_id = self.postfix.send("returns3@example.org",
                                     ["pete@example.org", "ghost@example.org"], message)
        self.postfix.wait_for_delivery(queue_id, "pete@example.org", status="sent")
        self.postfix.wait_for_delivery(queue_id, "ghost@example.org", status="bounced")
        self.assert_arrived_intact(self.retrieve_one("pete"), message, queue_id,
                                   "returns3@example.org", "pete@example.org", for_clause=False)
        self.assert_bounce(queue_id, "returns3", "ghost@example.org", "5.1.1", "half known")


    def test_delivery_while_a_pop3_session_is_open(self):
        self.check_delivery_during_session("gina", "gina@example.org")


class ServerStoppedTest(PostfixTestCase):
    """While postern is stopped, Postfix keeps the mail queued; it arrives once postern is back."""

    def test_mail_waits_while_postern_is_stopped(self):
        self.assertEqual(self.server.stop(), 0, "postern exits cleanly on SIGTERM")
        message = make_message("while stopped", "Queued until postern came back.\r\n")
        rcpt = "alice@example.org"
        queue_id = self.postfix.send(SENDER, rcpt, message)
        found = self.postfix.wait_for_delivery(queue_id, rcpt, status="deferred")
        self.assertIn("Connection refused", found["text"])
        self.server.start(**self.server_config)
        wait_connectable(self.lmtp_address)
        self.flush_until_sent(queue_id, rcpt, first_attempt=1)
        self.assert_arrived_intact(self.retrieve_one("alice"), message, queue_id, SENDER, rcpt)


class LmtpUnixSocketTest(PostfixTestCase):
    """The socket setup of docs/delivery.md: postern's socket in Postfix's queue/private,
    group postfix, mode 0660; `virtual_transport = lmtp:unix:private/postern-lmtp`."""

    lmtp_unix = True

    def test_socket_is_group_postfix_0660(self):
        st = os.stat(self.lmtp_address)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        self.assertEqual(st.st_gid, grp.getgrnam("postfix").gr_gid)

    def test_message_over_the_socket(self):
        message = make_message("over a unix socket", "Via private/postern-lmtp.\r\n")
        queue_id = self.postfix.send(SENDER, "alice@example.org", message)
        found = self.postfix.wait_for_delivery(queue_id, "alice@example.org", status="sent")
        self.assertEqual(found["agent"], "lmtp")
        self.assertIn("private/postern-lmtp", found["relay"])
        self.assert_arrived_intact(self.retrieve_one("alice"), message, queue_id, SENDER,
                                   "alice@example.org")


class LocalDomainTest(PostfixTestCase):
    """Users of a local(8) domain (mydestination) handed to postern by mailbox_transport."""

    local_domain = "local.example.org"

    def test_mailbox_transport(self):
        message = make_message("local user", "Through local(8) and mailbox_transport.\r\n")
        rcpt = "alice@local.example.org"
        queue_id = self.postfix.send(SENDER, rcpt, message)
        found = self.postfix.wait_for_delivery(queue_id, rcpt, status="sent")
        self.assertEqual(found["agent"], "lmtp")
        self.assert_arrived_intact(self.retrieve_one("alice"), message, queue_id, SENDER, rcpt)


class PipeDeliveryTest(PostfixTestCase):
    """Postfix -> pipe(8) -> `postern deliver` (as nobody) for pipe.example.org."""

    broken_pipe = True

    def test_message_via_postern_deliver(self):
        body = ("Grüße über die Pipe.\r\n.leading dot\r\n..\r\n.\r\nend\r\n").encode("utf-8")
        message = make_message("via pipe", body,
                               b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               b"Content-Transfer-Encoding: 8bit\r\n")
        rcpt = "pia@pipe.example.org"
        queue_id = self.postfix.send(SENDER, rcpt, message, ["BODY=8BITMIME"])
        found = self.postfix.wait_for_delivery(queue_id, rcpt, status="sent")
        self.assertEqual((found["agent"], found["relay"]), ("pipe", "postern-deliver"))
        self.assert_arrived_intact(self.retrieve_one("pia"), message, queue_id, SENDER, rcpt)

    def test_10_mb_message_via_postern_deliver(self):
        lines = [b"%08d " % i + b"abcdefghij" * 7 for i in range(10 * 1024 * 1024 // 80 + 1)]
        message = make_message("ten megabytes by pipe", b"\r\n".join(lines) + b"\r\n")
        rcpt = "pete@pipe.example.org"
        queue_id = self.postfix.send(SENDER, rcpt, message)
        self.postfix.wait_for_delivery(queue_id, rcpt, status="sent")
        self.assert_arrived_intact(self.retrieve_one("pete"), message, queue_id, SENDER, rcpt)

    def test_unknown_user_bounces(self):
        message = make_message("pipe to nobody", "Nobody reads this either.\r\n")
        # The bounce goes back through the pipe too: null_sender= makes it `-f ""`.
        queue_id = self.postfix.send("returns@pipe.example.org", "nosuchuser@pipe.example.org",
                                     message)
        found = self.postfix.wait_for_delivery(queue_id, "nosuchuser@pipe.example.org",
                                               status="bounced")
        self.assertEqual(found["dsn"], "5.1.1", "exit code 67 (EX_NOUSER)")
        self.assert_bounce(queue_id, "returns", "nosuchuser@pipe.example.org", "5.1.1",
                           "pipe to nobody", domain="pipe.example.org")

    def test_delivery_while_a_pop3_session_is_open(self):
        self.check_delivery_during_session("gina", "gina@pipe.example.org")

    def test_missing_configuration_defers(self):
        """`postern deliver -c` a file that does not exist: an administrator's mistake must
        leave the mail queued, not return it to the sender."""
        message = make_message("no config", "Waits in the queue.\r\n")
        queue_id = self.postfix.send("returns3@example.org", "pia@broken.example.org", message)
        found = self.postfix.wait_for_delivery(queue_id, "pia@broken.example.org")
        self.assertIn("missing.toml", found["text"], "the reason names the file")
        self.assertEqual(found["dsn"], "4.3.5", found)
        self.assertEqual(found["status"], "deferred", found)
        self.assertEqual([m["queue_name"] for m in self.postfix.queue()
                          if m["queue_id"] == queue_id], ["deferred"])

    def test_over_quota_bounces(self):
        message = make_message("too big for pipetiny", ("z" * 70 + "\r\n") * 60)
        queue_id = self.postfix.send("returns2@example.org", "pipetiny@pipe.example.org", message)
        found = self.postfix.wait_for_delivery(queue_id, "pipetiny@pipe.example.org",
                                               status="bounced")
        # postern deliver's stderr starts with its enhanced code, which pipe(8) then uses.
        self.assertEqual(found["dsn"], "5.2.2", found)
        self.assertIn("mailbox full", found["text"], "postern's reason reaches the log")
        self.assert_bounce(queue_id, "returns2", "pipetiny@pipe.example.org", found["dsn"],
                           "too big for pipetiny")
        self.assertEqual(self.retrieve_all("pipetiny"), [])


class LimitsTest(PostfixTestCase):
    """[delivery] quota_exceeded = "defer": over quota stays in Postfix's queue and is delivered
    by `postqueue -f` once the quota is raised. max_message_size = "1M": larger mail bounces."""

    delivery = {"quota_exceeded": "defer", "max_message_size": "1M"}

    def check_deferred_then_delivered(self, user, rcpt, agent):
        message = make_message(f"deferred for {user}", ("q" * 70 + "\r\n") * 60)
        queue_id = self.postfix.send(SENDER, rcpt, message)
        found = self.postfix.wait_for_delivery(queue_id, rcpt, status="deferred")
        self.assertEqual(found["agent"], agent)
        self.assertEqual(found["dsn"], "4.2.2", found)
        queued = [m for m in self.postfix.queue() if m["queue_id"] == queue_id]
        self.assertEqual(len(queued), 1, f"{queue_id} is not in the queue")
        self.assertEqual(queued[0]["queue_name"], "deferred")
        self.assertEqual([r["address"] for r in queued[0]["recipients"]], [rcpt])
        self.assertEqual(self.retrieve_all(user), [], "nothing stored while over quota")

        self.raise_quota(user, "quota_bytes=1M")
        self.flush_until_sent(queue_id, rcpt, first_attempt=1)
        self.assert_arrived_intact(self.retrieve_one(user), message, queue_id, SENDER, rcpt)
        self.assertFalse([m for m in self.postfix.queue() if m["queue_id"] == queue_id])

    def test_lmtp_over_quota_is_deferred_then_delivered(self):
        self.check_deferred_then_delivered("small", "small@example.org", "lmtp")

    def test_pipe_over_quota_is_deferred_then_delivered(self):
        self.check_deferred_then_delivered("pipetiny", "pipetiny@pipe.example.org", "pipe")

    def test_lmtp_too_large_bounces(self):
        message = make_message("too large for lmtp", ("s" * 70 + "\r\n") * 16000)
        self.assertGreater(len(message), 1 << 20)
        queue_id = self.postfix.send("returns@example.org", "alice@example.org", message)
        found = self.postfix.wait_for_delivery(queue_id, "alice@example.org", status="bounced")
        self.assertEqual(found["dsn"], "5.3.4")
        # Postfix honours the SIZE postern offers in its LHLO reply and does not even send it.
        self.assertIn(f"exceeds size limit {1 << 20} of server 127.0.0.1", found["text"])
        self.assert_bounce(queue_id, "returns", "alice@example.org", "5.3.4", "too large for lmtp")
        self.assertEqual(self.retrieve_all("alice"), [])

    def test_pipe_too_large_bounces(self):
        message = make_message("too large for pipe", ("p" * 70 + "\r\n") * 16000)
        queue_id = self.postfix.send("returns2@example.org", "pia@pipe.example.org", message)
        found = self.postfix.wait_for_delivery(queue_id, "pia@pipe.example.org",
                                               status="bounced")
        self.assertEqual(found["dsn"], "5.3.4", found)
        self.assertIn("too large", found["text"], "postern's reason reaches the log")
        self.assert_bounce(queue_id, "returns2", "pia@pipe.example.org", found["dsn"],
                           "too large for pipe")
        self.assertEqual(self.retrieve_all("pia"), [])


if __name__ == "__main__":
    unittest.main()
