"""The LMTP listener (RFC 2033) against the real binary: Python's smtplib.LMTP and raw sockets
deliver, POP3 reads back. Every 250 must mean a message on disk, every refusal none.
"""

import grp
import os
import smtplib
import socket
import stat
import unittest

from postern_harness import (CRLF, ServerFixture, LmtpLine, ConnectionClosed, lmtp_data,
                             require_postern, wire_form)

SENDER = "sender@example.net"


def headers(sender, recipient):
    """The two lines postern puts in front of a message delivered over LMTP, as RETR sends them."""
    return f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()


def files_under(maildir):
    """Every file in new/, cur/ and tmp/ of a maildir (relative paths)."""
    out = []
    for sub in ("new", "cur", "tmp"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            out.extend(f"{sub}/{n}" for n in os.listdir(d))
    return out


class LmtpCase(unittest.TestCase):
    users = None
    passwd_text = None

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture(users=self.users, passwd_text=self.passwd_text)
        self.addCleanup(self.server.cleanup)

    def start(self, **config):
        config.setdefault("lmtp", True)
        return self.server.start(**config)

    def client(self, **kw):
        c = self.server.lmtp_connect(**kw)
        self.addCleanup(c.close)
        return c

    def ready_client(self, **kw):
        c = self.client(**kw)
        self.assertTrue(c.lhlo()[-1].startswith(b"250 "))
        return c

    def assert_no_mail(self, user):
        self.assertEqual(files_under(self.server.maildir(user)), [],
                         f"{user} has message files; log:\n" + self.server.log_text()[-3000:])


class LmtpDeliveryTest(LmtpCase):
    def setUp(self):
        super().setUp()
        self.start()

    def send_one(self, message, recipient="alice@example.org", sender=SENDER, options=()):
        client = self.server.smtplib_lmtp()
        try:
            refused = client.sendmail(sender, [recipient], message, mail_options=list(options))
            self.assertEqual(refused, {})
        finally:
            client.quit()

    def test_greeting_and_lhlo(self):
        c = self.client()
        self.assertEqual(c.greeting, b"220 mail.example.org LMTP postern ready")
        self.assertEqual(c.lhlo(), [b"250-mail.example.org", b"250-PIPELINING",
                                    b"250-ENHANCEDSTATUSCODES", b"250-8BITMIME",
                                    b"250 SIZE 52428800"])
        self.assertTrue(c.cmd("HELO relay").startswith(b"500 5.5.1 "))
        self.assertEqual(c.cmd("QUIT"), b"221 2.0.0 mail.example.org closing connection")
        self.assertEqual(c.wait_closed(), [])

    def test_plain_message_is_byte_identical_over_retr(self):
        message = (b"From: Sender <sender@example.net>\r\nTo: alice@example.org\r\n"
                   b"Subject: plain\r\nMessage-ID: <1@example.net>\r\n\r\n"
                   b"Hello Alice,\r\n\r\n  indented line\r\ntrailing spaces   \r\n\tand a tab\r\n")
        self.send_one(message)
        self.assertEqual(self.server.retr_all("alice"),
                         [headers(SENDER, "alice@example.org") + message])
        ev = self.server.wait_for_event("lmtp-delivered", user="alice")
        self.assertEqual(ev["recipient"], "alice@example.org")
        self.assertEqual(ev["sender"], SENDER)
        self.assertEqual(ev["size"], str(len(message)))
        self.assertIn(ev["name"].split(",")[0], "".join(self.server.message_files("alice")))

    def test_bare_user_name_and_null_sender(self):
        c = self.ready_client()
        r = c.transaction("", ["carol"], b"Subject: bounce\r\n\r\nno sender\r\n")
        self.assertEqual(r["mail"], b"250 2.1.0 Sender <> OK")
        self.assertEqual(r["results"], [b"250 2.0.0 <carol> delivered"])
        self.assertEqual(self.server.retr_all("carol"),
                         [b"Return-Path: <>\r\nDelivered-To: carol\r\n"
                          b"Subject: bounce\r\n\r\nno sender\r\n"])

    def test_leading_dot_lines(self):
        message = (b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n..two\r\n. space\r\n"
                   b"middle . dot\r\n.\r\nlast\r\n")
        self.send_one(message)
        self.assertEqual(self.server.retr_all("alice"),
                         [headers(SENDER, "alice@example.org") + message])

    def test_eight_bit_utf8(self):
        message = ("Subject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; "
                   "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                   "Grüße aus Köln — ☃ 日本語\r\n").encode()
        self.send_one(message, options=["BODY=8BITMIME"])
        self.assertEqual(self.server.retr_all("alice"),
                         [headers(SENDER, "alice@example.org") + message])

    def test_ten_megabyte_message(self):
        line = b"0123456789" * 7 + b"\r\n"
        body = line * ((10 * 1024 * 1024) // len(line) + 1)
        message = b"Subject: large\r\n\r\n" + body
        self.assertGreater(len(message), 10 * 1024 * 1024)
        self.send_one(message)
        self.assertEqual(self.server.retr_all("alice"),
                         [headers(SENDER, "alice@example.org") + message])

    def test_unknown_user_is_550(self):
        client = self.server.smtplib_lmtp()
        try:
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as caught:
                client.sendmail(SENDER, ["nobody@example.org"], b"Subject: x\r\n\r\nx\r\n")
            self.assertEqual(caught.exception.recipients,
                             {"nobody@example.org": (550, b"5.1.1 <nobody@example.org> unknown user")})
        finally:
            client.quit()
        ev = self.server.wait_for_event("lmtp-recipient-refused", recipient="nobody@example.org")
        self.assertEqual(ev["status"], "unknown-user")

    def test_pop3_session_holding_the_maildrop_does_not_block_delivery(self):
        self.server.add_message("alice", b"Subject: old\n\nold\n")
        pop = self.server.login("alice")
        self.addCleanup(pop.close)
        self.assertEqual(pop.cmd("STAT").split()[:2], [b"+OK", b"1"])
        message = b"Subject: new\r\n\r\narrived during a session\r\n"
        r = self.server.lmtp_deliver(SENDER, ["alice@example.org"], message)
        self.assertEqual(r["results"], [b"250 2.0.0 <alice@example.org> delivered"])
        self.assertEqual(pop.cmd("STAT").split()[:2], [b"+OK", b"1"])  # a snapshot: unchanged
        self.assertTrue(pop.cmd("QUIT").startswith(b"+OK"))
        pop.close()
        got = self.server.retr_all("alice")
        self.assertEqual(len(got), 2)
        self.assertIn(headers(SENDER, "alice@example.org") + message, got)

    def test_rset_and_a_second_transaction_on_one_connection(self):
        c = self.ready_client()
        self.assertTrue(c.cmd("MAIL FROM:<a@example.net>").startswith(b"250 2.1.0"))
        self.assertTrue(c.cmd("RCPT TO:<bob@example.org>").startswith(b"250 2.1.5"))
        self.assertEqual(c.cmd("RSET"), b"250 2.0.0 OK")
        self.assertTrue(c.cmd("DATA").startswith(b"503 5.5.1"))
        first = c.transaction("one@example.net", ["carol"], b"Subject: 1\r\n\r\none\r\n")
        second = c.transaction("two@example.net", ["carol", "alice"], b"Subject: 2\r\n\r\ntwo\r\n")
        self.assertEqual(first["results"], [b"250 2.0.0 <carol> delivered"])
        self.assertEqual(second["results"], [b"250 2.0.0 <carol> delivered",
                                             b"250 2.0.0 <alice> delivered"])
        self.assertEqual(c.cmd("NOOP"), b"250 2.0.0 OK")
        self.assert_no_mail("bob")
        self.assertEqual(sorted(self.server.retr_all("carol")),
                         sorted([headers("one@example.net", "carol") + b"Subject: 1\r\n\r\none\r\n",
                                 headers("two@example.net", "carol") + b"Subject: 2\r\n\r\ntwo\r\n"]))

    def test_same_recipient_twice_gets_one_copy_and_two_replies(self):
        c = self.ready_client()
        r = c.transaction(SENDER, ["bob", "bob"], b"Subject: twice\r\n\r\nx\r\n")
        self.assertEqual(r["results"], [b"250 2.0.0 <bob> delivered"] * 2)
        self.assertEqual(len(self.server.retr_all("bob")), 1)

    # -- bad input ----------------------------------------------------------------------------

    def test_ten_thousand_byte_command_line(self):
        c = self.ready_client()
        c.send(b"RCPT TO:<" + b"a" * 10_000 + b"@example.org>\r\n")
        self.assertEqual(c.read_reply(), [b"500 5.5.2 Line too long"])
        self.assertEqual(c.cmd("NOOP"), b"250 2.0.0 OK")
        r = c.transaction(SENDER, ["carol"], b"Subject: after\r\n\r\nfine\r\n")
        self.assertEqual(r["results"], [b"250 2.0.0 <carol> delivered"])

    def test_nul_bytes(self):
        c = self.ready_client()
        self.assertTrue(c.cmd(b"NOOP \x00").startswith(b"501 5.5.4"))
        self.assertTrue(c.cmd(b"\x00\x00\x00").startswith(b"500 5.5.2"))
        self.assertTrue(c.cmd("MAIL FROM:<a@example.net>").startswith(b"250"))
        self.assertTrue(c.cmd(b"RCPT TO:<car\x00ol>").startswith(b"501 5.5.4"))
        self.assertTrue(c.cmd(b"RCPT TO:<carol>").startswith(b"250 2.1.5"))
        self.assertTrue(c.cmd("DATA").startswith(b"354"))
        c.send(b"Subject: nul\r\n\r\na\x00b\r\n.\r\n")
        self.assertEqual(c.read_reply(), [b"250 2.0.0 <carol> delivered"])
        (name,) = self.server.message_files("carol")
        with open(os.path.join(self.server.maildir("carol"), name), "rb") as f:
            self.assertEqual(f.read(), b"Return-Path: <a@example.net>\nDelivered-To: carol\n"
                                       b"Subject: nul\n\na\x00b\n")
        self.assertTrue(self.server.alive())

    def test_eof_in_the_middle_of_data_leaves_nothing(self):
        c = self.ready_client()
        c.send(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
               b"RCPT TO:<bob>\r\nDATA\r\n")
        self.assertEqual([l[:3] for l in c.read_replies(4)], [b"250", b"250", b"250", b"354"])
        c.send(b"Subject: cut\r\n\r\n" + b"partial line\r\n" * 1000 + b"no end")
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(c.wait_closed(), [], "no reply may come for an unfinished message")
        self.server.wait_for_event("lmtp-end", reason="disconnected during DATA")
        self.assert_no_mail("alice")
        self.assert_no_mail("bob")
        self.assertEqual(self.server.events("lmtp-delivered"), [])

    def test_connection_reset_in_the_middle_of_data_leaves_nothing(self):
        c = self.ready_client()
        c.send(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        self.assertEqual([l[:3] for l in c.read_replies(3)], [b"250", b"250", b"354"])
        c.send(b"Subject: cut\r\n\r\nbody\r\n.")  # the terminator never completes
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
        self.server.wait_for_event("lmtp-end", reason="disconnected during DATA")
        self.assert_no_mail("alice")

    def test_smuggled_end_of_data_does_not_end_the_message(self):
        c = self.ready_client()
        c.send(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<carol>\r\nDATA\r\n")
        c.read_replies(3)
        c.send(b"Subject: smuggle\r\n\r\nx\n.\nMAIL FROM:<evil@example.net>\r\n.\r\n")
        self.assertEqual(c.read_reply(), [b"250 2.0.0 <carol> delivered"])
        self.assertEqual(self.server.retr_all("carol"),
                         [headers("a@example.net", "carol") +
                          b"Subject: smuggle\r\n\r\nx\r\n.\r\nMAIL FROM:<evil@example.net>\r\n"])


class LmtpBadCommandLimitTest(LmtpCase):
    def test_too_many_bad_commands_close_with_421(self):
        self.start(server={"max_bad_commands": 3})
        c = self.client()
        c.send(b"FROB\r\nEHLO x\r\nMAIL FROM:<a@example.net>\r\nNOOP\r\n")
        self.assertEqual(c.wait_closed(), [
            b"500 5.5.2 Unknown command",
            b"500 5.5.1 This is an LMTP server: say LHLO, not HELO or EHLO (RFC 2033)",
            b"421 4.7.0 mail.example.org Too many bad commands, closing connection"])
        self.server.wait_for_event("lmtp-end", reason="too many bad commands")


class LmtpIdleTimeoutTest(LmtpCase):
    def test_idle_client_is_told_and_disconnected(self):
        self.start(server={"idle_timeout": "1s"})
        c = self.ready_client()
        self.assertEqual(c.wait_closed(timeout=30),
                         [b"421 4.4.2 mail.example.org Idle timeout, closing connection"])
        self.server.wait_for_event("lmtp-end", reason="idle timeout")


class LmtpFiftyRecipientsTest(LmtpCase):
    # 40 users; 10 more addresses that belong to nobody.
    users = {f"user{i:02d}": f"pw{i}" for i in range(40)}

    def test_fifty_pipelined_recipients_in_one_write(self):
        self.start()
        c = self.ready_client()
        recipients, accepted, expected_rcpt = [], [], []
        for i in range(50):
            if i % 5 == 2:
                address = f"ghost{i:02d}@example.org"
                expected_rcpt.append(f"550 5.1.1 <{address}> unknown user".encode())
            else:
                address = f"user{len(accepted):02d}@example.org"
                accepted.append(address)
                expected_rcpt.append(f"250 2.1.5 <{address}> recipient OK".encode())
            recipients.append(address)
        self.assertEqual(len(accepted), 40)
        message = b"Subject: fifty\r\n\r\none write, fifty recipients\r\n"
        batch = b"MAIL FROM:<list@example.net>\r\n"
        batch += b"".join(f"RCPT TO:<{r}>\r\n".encode() for r in recipients)
        batch += b"DATA\r\n"
        c.send(batch)
        self.assertEqual(c.read_reply(), [b"250 2.1.0 Sender <list@example.net> OK"])
        self.assertEqual(c.read_replies(50), expected_rcpt)
        self.assertEqual(c.read_reply(), [b"354 End data with <CR><LF>.<CR><LF>"])
        c.send(lmtp_data(message) + b"QUIT\r\n")
        self.assertEqual(c.read_replies(40),
                         [f"250 2.0.0 <{a}> delivered".encode() for a in accepted])
        self.assertEqual(c.read_reply(), [b"221 2.0.0 mail.example.org closing connection"])
        for i, address in enumerate(accepted):
            user = f"user{i:02d}"
            self.assertEqual(self.server.retr_all(user),
                             [headers("list@example.net", address) + message], user)
        for i in range(50):
            self.assertFalse(os.path.exists(self.server.maildir(f"ghost{i:02d}")))


class LmtpQuotaTest(LmtpCase):
    def setUp(self):
        super().setUp()
        # alice may hold 1 KiB (a per-user field after the passwd line's 7th ':').
        fixture = self.server
        text = "".join(fixture.passwd_line(u, p) for u, p in fixture.users.items())
        text = text.replace(":\n", ":userdb_quota_rule=*:storage=1k\n", 1)
        assert text.startswith("alice:") and "storage=1k" in text.splitlines()[0]
        with open(fixture.passwd_file, "w", encoding="utf-8") as f:
            f.write(text)

    big = b"Subject: big\r\n\r\n" + b"x" * 2000 + b"\r\n"

    def check_quota(self, code):
        c = self.ready_client()
        # Declared size over the quota: refused at RCPT.
        r = c.transaction(SENDER, ["alice@example.org", "bob"], self.big, mail_params="SIZE=2020")
        self.assertEqual(r["rcpt"], [f"{code} <alice@example.org> ".encode() + self.text(code),
                                     b"250 2.1.5 <bob> recipient OK"])
        self.assertEqual(r["results"], [b"250 2.0.0 <bob> delivered"])
        # No size declared: accepted at RCPT, refused once the message is known.
        r = c.transaction(SENDER, ["alice@example.org"], self.big)
        self.assertEqual(r["rcpt"], [b"250 2.1.5 <alice@example.org> recipient OK"])
        self.assertEqual(r["results"], [f"{code} <alice@example.org> ".encode() + self.text(code)])
        self.assert_no_mail("alice")
        # Small mail still fits.
        r = c.transaction(SENDER, ["alice@example.org"], b"Subject: small\r\n\r\nhi\r\n")
        self.assertEqual(r["results"], [b"250 2.0.0 <alice@example.org> delivered"])

    @staticmethod
    def text(code):
        return b"mailbox full" if code.startswith("552") else b"mailbox full, try again later"

    def test_over_quota_bounces_with_552(self):
        self.start()
        self.check_quota("552 5.2.2")
        ev = self.server.wait_for_event("lmtp-delivery-failed", user="alice")
        self.assertEqual(ev["status"], "over-quota")

    def test_over_quota_defers_with_452_when_configured(self):
        self.start(delivery={"quota_exceeded": "defer"})
        self.check_quota("452 4.2.2")
        ev = self.server.wait_for_event("lmtp-delivery-failed", user="alice")
        self.assertEqual(ev["status"], "over-quota-deferred")


class LmtpSizeLimitTest(LmtpCase):
    def test_too_large_is_552_534(self):
        self.start(delivery={"max_message_size": "64k"})
        c = self.ready_client()
        self.assertEqual(c.lhlo()[-1], b"250 SIZE 65536")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.net> SIZE=100000"),
                         b"552 5.3.4 Message size exceeds the limit of 65536 octets")
        big = b"Subject: big\r\n\r\n" + (b"y" * 98 + b"\r\n") * 1000
        r = c.transaction(SENDER, ["alice@example.org", "carol"], big)
        self.assertEqual(r["results"], [
            b"552 5.3.4 <alice@example.org> message too large (limit 65536 octets)",
            b"552 5.3.4 <carol> message too large (limit 65536 octets)"])
        self.assertEqual(c.cmd("NOOP"), b"250 2.0.0 OK")
        self.assert_no_mail("alice")
        self.assert_no_mail("carol")


class LmtpAccessTest(LmtpCase):
    def test_peer_outside_lmtp_clients_is_refused_before_the_greeting(self):
        self.start(delivery={"lmtp_clients": ["10.0.0.0/8"]})
        c = LmtpLine(port=self.server.lmtp_port)
        self.addCleanup(c.close)
        self.assertEqual(c.wait_closed(), [
            b"421 4.7.0 mail.example.org Not authorised to use this LMTP service"])
        ev = self.server.wait_for_event("connection-refused", reason="lmtp_clients")
        self.assertTrue(ev["remote"].startswith("127.0.0.1:"))
        # POP3 is not affected.
        pop = self.server.login("carol")
        pop.cmd("QUIT")
        pop.close()

    def test_bad_lmtp_clients_entry_is_a_config_error(self):
        self.server.write_config(lmtp=True, delivery={"lmtp_clients": ["10.0.0.0/33"]})
        from postern_harness import run_postern
        r = run_postern(["check-config", "--config", self.server.config_file])
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("delivery.lmtp_clients", r.stderr)


class LmtpUnixSocketTest(LmtpCase):
    def test_unix_socket_with_mode_and_group(self):
        group = "daemon"
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            self.fail("group 'daemon' is missing on this system")
        path = self.server.lmtp_socket
        self.start(lmtp={"address": path, "mode": "0620", "group": group}, listen=False)
        st = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o620)
        self.assertEqual(st.st_gid, gid)
        # smtplib.LMTP speaks over a unix socket when given a path.
        client = smtplib.LMTP(path, timeout=60)
        try:
            self.assertEqual(client.sendmail(SENDER, ["bob"], b"Subject: unix\r\n\r\nvia socket\r\n"),
                             {})
        finally:
            client.quit()
        r = self.server.lmtp_deliver(SENDER, ["carol", "nobody"], b"Subject: raw\r\n\r\nraw\r\n",
                                     path=path)
        self.assertEqual(r["rcpt"][1], b"550 5.1.1 <nobody> unknown user")
        self.assertEqual(r["results"], [b"250 2.0.0 <carol> delivered"])
        self.server.wait_for_event("lmtp-delivered", user="bob", remote="unix")
        self.assertEqual(self.server.stop(), 0)
        self.assertFalse(os.path.exists(path), "the socket file outlived a clean shutdown")
        self.server.start(lmtp="unix")  # the default mode
        self.assertEqual(stat.S_IMODE(os.lstat(path).st_mode), 0o660)
        self.assertEqual(len(self.server.retr_all("bob")), 1)

    def test_stale_socket_is_replaced(self):
        path = self.server.lmtp_socket
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()  # the file stays, nobody listens: what a crash leaves behind
        self.start(lmtp="unix")
        r = self.server.lmtp_deliver(SENDER, ["carol"], b"Subject: s\r\n\r\ns\r\n", path=path)
        self.assertEqual(r["results"], [b"250 2.0.0 <carol> delivered"])

    def test_regular_file_at_the_socket_path_is_left_alone(self):
        path = self.server.lmtp_socket
        with open(path, "w") as f:
            f.write("precious\n")
        self.server.write_config(lmtp="unix")
        from postern_harness import run_postern
        r = run_postern(["serve", "--config", self.server.config_file])
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn(f"cannot listen on {path}: the path exists and is not a socket", r.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), "precious\n")


class LmtpOnlyServerTest(LmtpCase):
    def test_lmtp_without_pop3_listener(self):
        self.start(listen=False)
        r = self.server.lmtp_deliver(SENDER, ["alice@example.org"], b"Subject: s\r\n\r\ns\r\n")
        self.assertEqual(r["results"], [b"250 2.0.0 <alice@example.org> delivered"])
        self.assertEqual(len(self.server.message_files("alice")), 1)
        self.assertEqual(self.server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
