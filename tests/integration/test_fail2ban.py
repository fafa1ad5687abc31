"""contrib/fail2ban/postern.conf against the real fail2ban-regex: every auth-failed line
matches with the right address, other events and forged user names do not."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib",
                      "fail2ban", "postern.conf")
STAMP = "2026-11-26T09:45:{:02d}.104+00:00"

# (log text after the stamp, the address fail2ban must find)
FAILURES = [
    ('warning auth-failed user=alice remote=127.0.0.1:38180 reason="wrong password"',
     "127.0.0.1"),
    ('warning auth-failed user="../../etc" remote=192.0.2.7:1 reason="invalid user name"',
     "192.0.2.7"),
    ('warning auth-failed user="x remote=6.6.6.6:1 reason=" remote=198.51.100.9:2 '
     'reason="unknown user"', "198.51.100.9"),
    (r'warning auth-failed user="a\"b\\ remote=6.6.6.7:1 \x0d\xc3" remote=203.0.113.4:3 '
     r'reason="invalid user name"', "203.0.113.4"),
    ('warning auth-failed user=bob remote=::1:5000 reason="wrong password"', "::1"),
    ('warning auth-failed user=bob remote=[::1]:5000 reason="wrong password"', "::1"),
    ('warning auth-failed user=bob remote=2001:db8::1:5000:995 reason="wrong password"',
     "2001:db8::1:5000"),
    ('warning auth-failed user=bob remote=[2001:db8::1:5000]:995 reason="wrong password"',
     "2001:db8::1:5000"),
    ('warning auth-failed user=bob remote=::ffff:192.0.2.55:995 reason="wrong password"',
     "192.0.2.55"),
    # As the journal hands it to fail2ban: "HOST IDENT[PID]: " then the server's own line.
    ('host postern[12]: 2026-11-26T09:45:56.104+00:00 warning auth-failed user=carol '
     'remote=203.0.113.5:4 reason="wrong password"', "203.0.113.5"),
]

OTHERS = [
    "info postern 0.1.0 starting, hostname=pop.example.org",
    "info login user=alice remote=127.0.0.1:38180 tls=no messages=3 octets=838",
    "info logout user=alice remote=127.0.0.1:38180 reason=quit retr=0 retr_bytes=0 deleted=0",
    'warning login-failed user=alice remote=127.0.0.1:38180 reason="mailbox in use"',
    # A stranger's user name that spells a whole auth-failed event must not be taken for one.
    'info login user="warning auth-failed user=a remote=6.6.6.8:1 reason=" remote=127.0.0.1:1 '
    "tls=no messages=0 octets=0",
    'warning auth-failed user="unterminated remote=6.6.6.9:1 reason=x',
]


def fail2ban_regex(*args):
    return subprocess.run(["fail2ban-regex", *args], capture_output=True, text=True, timeout=120,
                          check=False)


class Fail2banFilter(unittest.TestCase):
    def setUp(self):
        if shutil.which("fail2ban-regex") is None:
            self.fail("fail2ban-regex not found: install the Debian package fail2ban "
                      "(apt-get install fail2ban; scripts/install-deps does it)")
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write_log(self, bodies):
        path = os.path.join(self.dir.name, "postern.log")
        with open(path, "w", encoding="utf-8") as log:
            for i, body in enumerate(bodies):
                log.write(f"{STAMP.format(i % 60)} {body}\n")
        return path

    def summary(self, bodies):
        """(lines, ignored, matched, missed) from fail2ban-regex's own report."""
        result = fail2ban_regex(self.write_log(bodies), FILTER)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        found = re.search(r"^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed",
                          result.stdout, re.MULTILINE)
        self.assertIsNotNone(found, result.stdout)
        return tuple(int(n) for n in found.groups())

    def test_every_failure_matches(self):
        bodies = [body for body, _ in FAILURES]
        self.assertEqual(self.summary(bodies), (len(bodies), 0, len(bodies), 0))

    def test_other_events_do_not_match(self):
        self.assertEqual(self.summary(OTHERS), (len(OTHERS), 0, 0, len(OTHERS)))

    def test_mixed_log_counts(self):
        bodies = [body for body, _ in FAILURES] + OTHERS
        self.assertEqual(self.summary(bodies), (len(bodies), 0, len(FAILURES), len(OTHERS)))

    def test_the_address_found_is_the_remote_field(self):
        result = fail2ban_regex("-o", "ip", self.write_log([body for body, _ in FAILURES]),
                                FILTER)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        found = result.stdout.split()
        self.assertEqual(found, [address for _, address in FAILURES])


if __name__ == "__main__":
    unittest.main()
