"""postern fetch against a real Dovecot (Debian's dovecot-pop3d, started on loopback by the test).

The reference peer is not ours: keep mode over POP3S verified with the test CA (--tls-ca-file)
and a rerun that fetches nothing, delete mode over STLS (Dovecot's maildir ends empty),
keep_days, max_size with oversize = "skip" and "headers", and Maildir, mbox and MDA delivery,
every stored message byte-identical to lf_form(original) (mbox: parsed back; ">From" quoting
checked in the file itself).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import fixtures
import test_fetch_smoke as smoke
from dovecot_harness import DovecotFixture, require_dovecot
from postern_harness import (MDA_SCRIPT, TestCertificates, lf_form, postern_bin, require_postern,
                             top_form, wire_form)

PASSWORD = "dove pass 42"
RUN_TIMEOUT = 120

FROM_ME = (b"From: Quoter <q@example.com>\n"
           b"Subject: mbox quoting\n"
           b"\n"
           b"Hello,\n"
           b"From me\n"
           b">From me, quoted already\n"
           b"bye\n")


def big(i, size):
    """A message over the size limit, distinct per i."""
    return (f"From: Big {i} <big{i}@example.com>\nSubject: big {i}\nMessage-ID: <big-{i}@x>\n\n"
            .encode() + fixtures.big_message(size, seed=100 + i).split(b"\n\n", 1)[1])


def headers_of(message):
    """What TOP n 0 returns, in LF form: the header, then the blank line."""
    return top_form(wire_form(message), 0).replace(b"\r\n", b"\n")


class FetchDovecot(unittest.TestCase):

    def setUp(self):
        require_postern(self)
        require_dovecot(self)
        self.work = tempfile.mkdtemp(prefix="postern-fetch-dovecot-")
        self.addCleanup(shutil.rmtree, self.work, True)
        os.chmod(self.work, 0o755)
        self.certs = TestCertificates(os.path.join(self.work, "tls"))
        cert, key = self.certs.issue("dovecot")
        for path in (cert, key):
            os.chmod(path, 0o644)  # Dovecot reads them as root, but be generous
        self.dovecot = DovecotFixture({"alice": PASSWORD}, certificate=cert, private_key=key)
        self.addCleanup(self.dovecot.cleanup)
        self.home = os.path.join(self.work, "home")
        os.makedirs(self.home)
        self.sent = [data for _name, data in fixtures.small_fixtures()] + [FROM_ME]
        for data in self.sent:
            self.dovecot.add_message("alice", data)
        self.dovecot.start()
        self.maildir = os.path.join(self.work, "Mail")

    def expected(self, messages=None):
        return sorted(lf_form(m) for m in (self.sent if messages is None else messages))

    def fetch(self, *args, codes=(0,)):
        env = dict(os.environ, HOME=self.home, POSTERN_PASSWORD=PASSWORD)
        for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            env.pop(name, None)
        r = subprocess.run([postern_bin(), "fetch", *args], capture_output=True, text=True,
                           env=env, stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT)
        self.assertIn(r.returncode, codes,
                      f"postern fetch {' '.join(args)} exited with {r.returncode}\n"
                      f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}\n"
                      f"dovecot log:\n{self.dovecot.log_text()[-3000:]}")
        return r

    def pop3s(self):
        return (f"pop3s://alice@127.0.0.1:{self.dovecot.tls_port}", "--tls-ca-file",
                self.certs.ca_cert)

    def stls(self):
        return f"pop3://alice@localhost:{self.dovecot.port}", "--tls-ca-file", self.certs.ca_cert

    def write_config(self, **keys):
        """An accounts file for alice over POP3S with the test CA, plus `keys`."""
        pw = os.path.join(self.work, "pw")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pw, 0o600)
        table = {"host": "127.0.0.1", "port": self.dovecot.tls_port, "user": "alice",
                 "password_file": pw, "tls_ca_file": self.certs.ca_cert,
                 "state_dir": os.path.join(self.work, "state")}
        table.update(keys)
        lines = ["[[account]]"]
        for k, v in table.items():
            lines.append(f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"')
        config = os.path.join(self.work, "fetch.toml")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        return config

    # -- modes ------------------------------------------------------------------------------------

    def test_keep_mode_over_pop3s_and_a_rerun_fetches_nothing(self):
        r = self.fetch(*self.pop3s(), "--to", self.maildir)
        self.assertIn(f"alice@127.0.0.1: {len(self.sent)} new", r.stdout)
        self.assertEqual(smoke.read_maildir(self.maildir), self.expected())
        self.assertEqual(len(self.dovecot.message_files("alice")), len(self.sent))
        self.assertRegex(self.dovecot.log_text(), r"Login: user=<alice>.*, TLS")
        r = self.fetch(*self.pop3s(), "--to", self.maildir)
        self.assertIn("alice@127.0.0.1: 0 new", r.stdout)
        self.assertEqual(smoke.read_maildir(self.maildir), self.expected())
        self.assertEqual(len(self.dovecot.message_files("alice")), len(self.sent))

    def test_delete_mode_over_stls_empties_dovecot(self):
        r = self.fetch(*self.stls(), "--delete", "--to", self.maildir)
        self.assertIn(f"{len(self.sent)} deleted", r.stdout)
        self.assertEqual(smoke.read_maildir(self.maildir), self.expected())
        self.assertEqual(self.dovecot.message_files("alice"), [])
        self.assertRegex(self.dovecot.log_text(), r"Login: user=<alice>.*, TLS")
        r = self.fetch(*self.stls(), "--delete", "--to", self.maildir)
        self.assertIn("0 new", r.stdout)
        self.assertEqual(smoke.read_maildir(self.maildir), self.expected())

    def test_keep_days_deletes_what_was_downloaded_long_enough_ago(self):
        # keep_days counts from the download: the engine compares now with the time written
        # next to each UIDL in the state's uidls file. Waiting days is not an option, so the
        # test ages half of the entries by rewriting that file (its documented format) as if
        # those messages had been downloaded four days ago.
        config = self.write_config(maildir=self.maildir, keep_days=3)
        r = self.fetch("--config", config)
        self.assertIn(f"{len(self.sent)} new", r.stdout)
        self.assertNotIn("deleted", r.stdout)
        self.assertEqual(len(self.dovecot.message_files("alice")), len(self.sent))
        uidls = os.path.join(self.work, "state", "uidls")
        with open(uidls, "rb") as f:
            header, *entries = f.read().decode().splitlines()
        self.assertEqual(header, "postern-fetch-uidls 1")
        self.assertEqual(len(entries), len(self.sent))
        old = int(time.time()) - 4 * 86400
        aged = 0
        with open(uidls, "w") as f:
            f.write(header + "\n")
            for i, line in enumerate(entries):
                uidl, when, kind = line.split(" ")
                self.assertLessEqual(abs(int(when) - time.time()), 600, line)
                self.assertEqual(kind, "full")
                if i % 2 == 0:
                    when = str(old)
                    aged += 1
                f.write(f"{uidl} {when} {kind}\n")
        r = self.fetch("--config", config)
        self.assertIn(f"0 new", r.stdout)
        self.assertIn(f"{aged} deleted", r.stdout)
        self.assertEqual(len(self.dovecot.message_files("alice")), len(self.sent) - aged)
        self.assertEqual(smoke.read_maildir(self.maildir), self.expected())
        # The rest stays until its time comes; nothing is fetched again.
        r = self.fetch("--config", config)
        self.assertIn("0 new", r.stdout)
        self.assertNotIn("deleted", r.stdout)
        self.assertEqual(len(self.dovecot.message_files("alice")), len(self.sent) - aged)

    def add_big(self):
        bigs = [big(1, 30000), big(2, 60000)]
        for data in bigs:
            self.dovecot.add_message("alice", data)
        return bigs

    def test_max_size_skip_leaves_big_messages_on_the_server(self):
        bigs = self.add_big()
        config = self.write_config(maildir=self.maildir, max_size=20000, oversize="skip",
                                   mode="delete")
        r = self.fetch("--config", config)
        self.assertIn(f"{len(self.sent)} new", r.stdout)
        self.assertIn("2 skipped (over max_size)", r.stdout)
        self.assertEqual(smoke.read_maildir(self.maildir), self.expected())
        self.assertEqual(self.left_on_dovecot(), sorted(bigs))
        # Skipped, not remembered: raising the limit fetches them.
        config = self.write_config(maildir=self.maildir, mode="delete")
        r = self.fetch("--config", config)
        self.assertIn("2 new", r.stdout)
        self.assertEqual(smoke.read_maildir(self.maildir), self.expected(self.sent + bigs))
        self.assertEqual(self.dovecot.message_files("alice"), [])

    def left_on_dovecot(self):
        left = []
        for sub in ("new", "cur"):
            d = os.path.join(self.dovecot.maildir("alice"), sub)
            for name in os.listdir(d):
                with open(os.path.join(d, name), "rb") as f:
                    left.append(f.read())
        return sorted(left)

    def test_max_size_headers_stores_what_top_0_gives(self):
        # In delete mode: the whole messages go, the ones only the headers of are here stay.
        bigs = self.add_big()
        config = self.write_config(maildir=self.maildir, max_size=20000, oversize="headers",
                                   mode="delete")
        r = self.fetch("--config", config)
        self.assertIn(f"{len(self.sent)} new", r.stdout)
        self.assertIn("2 headers only", r.stdout)
        self.assertIn(f"{len(self.sent)} deleted", r.stdout)
        heads = [headers_of(b) for b in bigs]
        self.assertTrue(all(h.endswith(b"\n\n") and len(h) < 200 for h in heads), heads)
        self.assertEqual(smoke.read_maildir(self.maildir), sorted(self.expected() + heads))
        self.assertEqual(self.left_on_dovecot(), sorted(bigs))
        r = self.fetch("--config", config)
        self.assertIn("0 new", r.stdout)
        self.assertNotIn("headers only", r.stdout)
        self.assertNotIn("deleted", r.stdout)
        self.assertEqual(self.left_on_dovecot(), sorted(bigs))
        self.assertEqual(smoke.read_maildir(self.maildir), sorted(self.expected() + heads))

    # -- destinations -----------------------------------------------------------------------------

    def test_mbox_is_mboxrd_and_byte_identical(self):
        mbox = os.path.join(self.work, "inbox")
        self.fetch(*self.pop3s(), "--mbox", mbox)
        self.assertEqual(smoke.read_mboxrd(mbox), self.expected())
        with open(mbox, "rb") as f:
            text = f.read()
        self.assertIn(b"\n>From me\n>>From me, quoted already\n", text)
        separators = re.findall(rb"^From .*$", text, re.M)
        self.assertEqual(len(separators), len(self.sent))
        self.assertTrue(all(s.startswith(b"From MAILER-DAEMON ") for s in separators), separators)
        self.assertFalse(os.path.exists(mbox + ".lock"))

    def test_mda_gets_each_message_on_stdin(self):
        script = os.path.join(self.work, "mda.py")
        with open(script, "w") as f:
            f.write(MDA_SCRIPT)
        out = os.path.join(self.work, "mda-out")
        os.makedirs(out)
        self.fetch(*self.stls(), "--mda", f"{sys.executable} {script} {out}")
        got = []
        for name in os.listdir(out):
            with open(os.path.join(out, name), "rb") as f:
                got.append(f.read())
        self.assertEqual(sorted(got), self.expected())


if __name__ == "__main__":
    unittest.main()
