"""AUTH (RFC 5034 SASL) and APOP (RFC 1939) against the real binary: curl with AUTH=PLAIN,
LOGIN and CRAM-MD5, mpop with SCRAM-SHA-256 (libgsasl), and raw-socket dialogues for what
clients never do on purpose (cancel, bad base64, wrong passwords, bare AUTH).

The passwd-file holds {PLAIN} secrets, so CRAM-MD5, SCRAM and APOP can all work for these users.
Certificates come from a throwaway CA made with the openssl command line tool.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest

import fixtures
from postern_harness import (CRLF, Pop3Line, ServerFixture, ServerTestCase, TestCertificates,
                             free_port, lf_form, require_postern, require_tool, run_postern,
                             tls_config_text,
                             wire_form)

PASSWORD = "secret pass with spaces"  # alice's, from the harness's default users
CLIENT_TIMEOUT = 120


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


# ---- a SCRAM-SHA-256 client (RFC 5802, RFC 7677), small enough to read ----

def _hmac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


class ScramClient:
    def __init__(self, user, password, nonce):
        self.user, self.password, self.nonce = user, password, nonce
        self.first_bare = f"n={user},r={nonce}"

    def first(self):
        return "n,," + self.first_bare

    def final(self, server_first):
        attrs = dict(item.split("=", 1) for item in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise ValueError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                     base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
        signature = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = _hmac(salted, b"Server Key")
        self.expected_server_final = "v=" + b64(_hmac(server_key, auth_message))
        return f"{without_proof},p={b64(proof)}"


class ScramClientSelfTest(unittest.TestCase):
    """The test's own SCRAM client against the RFC 7677 section 3 example, before it is trusted."""

    def test_rfc7677_vector(self):
        client = ScramClient("user", "pencil", "rOprNGfwEbeRWgbNEkqO")
        self.assertEqual(client.first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        final = client.final("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                             "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        self.assertEqual(final, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        self.assertEqual(client.expected_server_final,
                         "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


# ---- raw dialogues on a plain-text listener that allows plaintext logins ----

# CRAM-MD5 and SCRAM are opt-in ([auth] mechanisms): these users have {PLAIN} secrets.
ALL_MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]


class SaslDialogue(ServerTestCase):
    server_config = {"auth": {"mechanisms": ALL_MECHANISMS}}

    def setUp(self):
        super().setUp()
        self.server.add_message("alice", fixtures.NORMAL)

    def connect(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        return c

    def mechanisms(self, c):
        self.assertOk(c.cmd("AUTH"), "bare AUTH")
        return c.read_multiline().decode().split("\r\n")[:-1]

    def test_bare_auth_lists_what_capa_advertises(self):
        c = self.connect()
        mechs = self.mechanisms(c)
        for name in ("SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"):
            self.assertIn(name, mechs)
        self.assertNotIn("SCRAM-SHA-256-PLUS", mechs, "channel binding without TLS")
        self.assertOk(c.cmd("CAPA"))
        caps = c.read_multiline().decode().split("\r\n")[:-1]
        self.assertIn("SASL " + " ".join(mechs), caps)

    def test_plain_with_initial_response_logs_in(self):
        c = self.connect()
        r = c.cmd("AUTH PLAIN " + b64(f"\0alice\0{PASSWORD}"))
        self.assertTrue(r.startswith(b"+OK Logged in"), r)
        self.assertOk(c.cmd("RETR 1"))
        self.assertEqual(c.read_multiline_raw(), wire_form(fixtures.NORMAL) + b".\r\n")
        self.assertOk(c.cmd("QUIT"))
        self.server.wait_for_event("login", user="alice")

    def test_plain_with_continuation_logs_in(self):
        c = self.connect()
        self.assertEqual(c.cmd("AUTH PLAIN"), b"+ ")
        self.assertTrue(c.cmd(b64(f"\0alice\0{PASSWORD}")).startswith(b"+OK"))

    def test_login_mechanism(self):
        c = self.connect()
        r = c.cmd("AUTH LOGIN")
        self.assertTrue(r.startswith(b"+ "), r)
        self.assertTrue(c.cmd(b64("alice")).startswith(b"+ "))
        self.assertTrue(c.cmd(b64(PASSWORD)).startswith(b"+OK"))

    def test_cram_md5(self):
        c = self.connect()
        r = c.cmd("AUTH CRAM-MD5")
        self.assertTrue(r.startswith(b"+ "), r)
        challenge = base64.b64decode(r[2:])
        digest = hmac.new(PASSWORD.encode(), challenge, hashlib.md5).hexdigest()
        self.assertTrue(c.cmd(b64(f"alice {digest}")).startswith(b"+OK"))

    def scram_login(self, c, password):
        client = ScramClient("alice", password, b64(os.urandom(18)))
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(client.first()))
        self.assertTrue(r.startswith(b"+ "), r)
        r = c.cmd(b64(client.final(base64.b64decode(r[2:]).decode())))
        if not r.startswith(b"+ "):
            return r
        # The server's signature comes as a final challenge; an empty line completes the login.
        self.assertEqual(base64.b64decode(r[2:]).decode(), client.expected_server_final)
        return c.cmd("")

    def test_scram_sha_256(self):
        c = self.connect()
        r = self.scram_login(c, PASSWORD)
        self.assertTrue(r.startswith(b"+OK Logged in"), r)
        self.assertOk(c.cmd("STAT"))

    def test_scram_with_the_wrong_password_fails(self):
        c = self.connect()
        self.assertTrue(self.scram_login(c, "wrong").startswith(b"-ERR [AUTH]"))
        self.server.wait_for_event("auth-failed", user="alice")

    def test_star_cancels(self):
        c = self.connect()
        self.assertEqual(c.cmd("AUTH LOGIN")[:2], b"+ ")
        self.assertErr(c.cmd("*"), "cancel")
        self.assertOk(c.cmd("CAPA"), "a command after the cancel")
        c.read_multiline()
        self.assertTrue(c.cmd("AUTH PLAIN " + b64(f"\0alice\0{PASSWORD}")).startswith(b"+OK"))

    def test_invalid_base64_is_refused(self):
        c = self.connect()
        self.assertErr(c.cmd("AUTH PLAIN !!!!"), "garbage initial response")
        self.assertEqual(c.cmd("AUTH LOGIN")[:2], b"+ ")
        self.assertErr(c.cmd("this is not base64"), "garbage response")
        self.assertOk(c.cmd("CAPA"))
        c.read_multiline()

    def test_wrong_password_is_an_auth_error_and_logged(self):
        c = self.connect()
        r = c.cmd("AUTH PLAIN " + b64("\0alice\0wrong"))
        self.assertTrue(r.startswith(b"-ERR [AUTH]"), r)
        ev = self.server.wait_for_event("auth-failed", user="alice")
        self.assertIn("PLAIN", ev.get("reason", ""))

    def test_failures_count_toward_the_limit_with_pass_failures(self):
        c = self.connect()
        self.assertTrue(c.cmd("AUTH PLAIN " + b64("\0alice\0wrong")).startswith(b"-ERR [AUTH]"))
        self.assertOk(c.cmd("USER alice"))
        self.assertTrue(c.cmd("PASS wrong").startswith(b"-ERR [AUTH]"))
        self.assertEqual(c.cmd("AUTH LOGIN")[:2], b"+ ")
        self.assertTrue(c.cmd(b64("alice")).startswith(b"+ "))
        r = c.cmd(b64("still wrong"))
        self.assertTrue(r.startswith(b"-ERR [AUTH]"), r)
        c.wait_closed()

    def test_long_response_is_read_whole_during_the_exchange(self):
        c = self.connect()
        self.assertEqual(c.cmd("AUTH PLAIN"), b"+ ")
        # 12 KiB of base64, far above the 255-octet command limit (a JWT can be this long).
        r = c.cmd(b64(b"\0alice\0" + b"x" * 9000))
        self.assertTrue(r.startswith(b"-ERR [AUTH]"), r)
        self.assertErr(c.cmd("X" * 400), "the command limit is back")

    def test_unknown_mechanism(self):
        c = self.connect()
        self.assertErr(c.cmd("AUTH GSSAPI"))
        self.assertErr(c.cmd("AUTH OAUTHBEARER"), "OAuth is not configured")
        self.assertOk(c.cmd("QUIT"))

    def test_apop_is_refused_when_disabled(self):
        c = self.connect()
        self.assertNotIn(b"<", c.greeting)
        digest = hashlib.md5(b"<x@y>" + PASSWORD.encode()).hexdigest()
        self.assertErr(c.cmd(f"APOP alice {digest}"))
        self.assertEqual(self.server.events("auth-failed"), [])


class Apop(unittest.TestCase):
    """APOP with `[auth] apop = true` and a {PLAIN} user."""

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture()
        self.addCleanup(self.server.cleanup)
        self.server.start(auth={"apop": True})
        self.server.add_message("alice", fixtures.NORMAL)

    def login(self, password):
        c = self.server.connect()
        self.addCleanup(c.close)
        timestamp = c.greeting[c.greeting.index(b"<"):c.greeting.rindex(b">") + 1]
        digest = hashlib.md5(timestamp + password.encode()).hexdigest()
        return c, c.cmd(f"APOP alice {digest}")

    def test_good_digest_logs_in(self):
        c, r = self.login(PASSWORD)
        self.assertTrue(r.startswith(b"+OK Logged in"), r)
        self.assertOk(c.cmd("RETR 1"))

    def test_wrong_digest_is_an_auth_error(self):
        _, r = self.login("wrong")
        self.assertTrue(r.startswith(b"-ERR [AUTH]"), r)
        self.server.wait_for_event("auth-failed", user="alice")

    def assertOk(self, line, what=""):
        self.assertTrue(line.startswith(b"+OK"), f"{what}: expected +OK, got {line!r}")


class DefaultMechanisms(ServerTestCase):
    """Out of the box AUTH offers only what works with every stored secret (yescrypt too):
    clients such as curl pick the strongest offered mechanism and do not fall back, so offering
    CRAM-MD5 to a user with a hashed password would lock them out."""

    def test_only_plain_and_login_are_offered(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("AUTH").startswith(b"+OK"))
        self.assertEqual(c.read_multiline(), b"PLAIN\r\nLOGIN\r\n")
        self.assertTrue(c.cmd("AUTH CRAM-MD5").startswith(b"-ERR"))

    def test_curl_without_options_logs_in_with_a_yescrypt_password(self):
        curl = require_tool(self, "curl")
        r = run_postern(["user", "add", "dave", "--passwd-file", self.server.passwd_file],
                        stdin="dave's password\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.server.add_message("dave", fixtures.NORMAL)
        deadline = time.monotonic() + 20
        while True:  # the passwd-file is re-read at most once a second
            r = subprocess.run([curl, "--silent", "--show-error", "--max-time", "60",
                                "--user", "dave:dave's password",
                                f"pop3://127.0.0.1:{self.server.port}/1"],
                               capture_output=True, timeout=120)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, wire_form(fixtures.NORMAL))


class OAuth(unittest.TestCase):
    """OAUTHBEARER and XOAUTH2 with a JWT (RS256) signed by a key made here with the openssl
    command line tool."""

    ISSUER = "https://issuer.example"
    AUDIENCE = "postern-test"

    def setUp(self):
        require_postern(self)
        self.openssl = require_tool(self, "openssl")
        self.server = ServerFixture()
        self.addCleanup(self.server.cleanup)
        self.key = os.path.join(self.server.dir, "oauth-key.pem")
        self.public_key = os.path.join(self.server.dir, "oauth-public.pem")
        subprocess.run([self.openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", self.key], check=True, capture_output=True)
        subprocess.run([self.openssl, "pkey", "-in", self.key, "-pubout", "-out", self.public_key],
                       check=True, capture_output=True)
        self.start_server()
        self.server.add_message("alice", fixtures.NORMAL)

    def start_server(self):
        extra = ("[auth.oauth]\n"
                 f"public_key = {json.dumps(self.public_key)}\n"
                 f"issuer = {json.dumps(self.ISSUER)}\n"
                 f"audience = {json.dumps(self.AUDIENCE)}\n"
                 'user_claim = "preferred_username"\n')
        self.server.start(extra=extra)

    def token(self, user="alice", lifetime=300, **claims):
        def part(obj):
            raw = json.dumps(obj, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        body = {"iss": self.ISSUER, "aud": self.AUDIENCE, "preferred_username": user,
                "exp": int(time.time()) + lifetime}
        body.update(claims)
        signing_input = part({"alg": "RS256", "typ": "JWT"}) + "." + part(body)
        signature = subprocess.run([self.openssl, "dgst", "-sha256", "-sign", self.key],
                                   input=signing_input.encode(), check=True,
                                   capture_output=True).stdout
        return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()

    def connect(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        return c

    def test_oauthbearer_logs_in(self):
        c = self.connect()
        self.assertEqual(c.cmd("AUTH OAUTHBEARER"), b"+ ")
        message = f"n,a=alice,\x01auth=Bearer {self.token()}\x01\x01"
        r = c.cmd(b64(message))
        self.assertTrue(r.startswith(b"+OK Logged in"), r)
        self.assertTrue(c.cmd("RETR 1").startswith(b"+OK"))

    def test_xoauth2_with_initial_response_logs_in(self):
        c = self.connect()
        c.send("AUTH XOAUTH2\r\n")
        self.assertEqual(c.read_line(), b"+ ")
        r = c.cmd(b64(f"user=alice\x01auth=Bearer {self.token()}\x01\x01"))
        self.assertTrue(r.startswith(b"+OK Logged in"), r)

    def test_expired_token_fails_after_the_error_challenge(self):
        c = self.connect()
        self.assertEqual(c.cmd("AUTH OAUTHBEARER"), b"+ ")
        r = c.cmd(b64(f"n,,\x01auth=Bearer {self.token(lifetime=-3600)}\x01\x01"))
        self.assertTrue(r.startswith(b"+ "), r)
        self.assertIn(b"invalid_token", base64.b64decode(r[2:]))
        r = c.cmd(b64("\x01"))
        self.assertTrue(r.startswith(b"-ERR [AUTH]"), r)
        self.server.wait_for_event("auth-failed")

    def test_token_for_a_user_the_passwd_file_lacks_fails(self):
        c = self.connect()
        self.assertEqual(c.cmd("AUTH OAUTHBEARER"), b"+ ")
        r = c.cmd(b64(f"n,,\x01auth=Bearer {self.token(user='mallory')}\x01\x01"))
        self.assertTrue(r.startswith(b"-ERR [AUTH]"), r)


# ---- real clients over TLS ----

class SaslTlsTestCase(unittest.TestCase):
    """The main listener offers STLS; self.tls_port is implicit TLS. Plaintext mechanisms are
    refused before TLS except from 127.0.0.1."""

    def setUp(self):
        require_postern(self)
        self.server = ServerFixture()
        self.addCleanup(self.server.cleanup)
        self.certs = TestCertificates(os.path.join(self.server.dir, "tls"))
        cert, key = self.certs.issue("server")
        self.tls_port = free_port()
        self.server.start(listen={"tls": "starttls"},
                          auth={"allow_plaintext": False, "trusted_networks": ["127.0.0.1/32"],
                                "mechanisms": ALL_MECHANISMS},
                          extra=tls_config_text(cert, key, implicit_port=self.tls_port))
        self.server.wait_for_log(rf"listening on 127\.0\.0\.1:{self.tls_port} tls=implicit")
        self.work = tempfile.mkdtemp(prefix="postern-sasl-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.home = os.path.join(self.work, "home")
        os.makedirs(self.home)
        for data in (fixtures.NORMAL, fixtures.DOTS):
            self.server.add_message("alice", data)

    def run_client(self, argv):
        env = dict(os.environ, HOME=self.home)
        env.pop("MAILDIR", None)
        r = subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT, env=env,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0,
                         f"{' '.join(argv)} exited with {r.returncode}\nstderr:\n"
                         f"{r.stderr.decode(errors='replace')[-3000:]}\nserver log:\n"
                         f"{self.server.log_text()[-3000:]}")
        return r


class PlaintextMechanismsNeedTls(SaslTlsTestCase):

    def test_plain_appears_only_after_stls(self):
        c = Pop3Line(self.server.port, source="127.0.0.2")
        self.addCleanup(c.close)
        c.read_greeting()
        self.assertOk(c.cmd("AUTH"))
        before = c.read_multiline().decode().split("\r\n")[:-1]
        self.assertNotIn("PLAIN", before)
        self.assertNotIn("LOGIN", before)
        self.assertIn("SCRAM-SHA-256", before)
        self.assertErr(c.cmd("AUTH PLAIN " + b64(f"\0alice\0{PASSWORD}")))
        self.assertOk(c.cmd("STLS"))
        c.sock = self.certs.client_context().wrap_socket(c.sock, server_hostname="localhost")
        self.assertOk(c.cmd("AUTH"))
        after = c.read_multiline().decode().split("\r\n")[:-1]
        self.assertIn("PLAIN", after)
        if c.sock.version() == "TLSv1.3":
            self.assertIn("SCRAM-SHA-256-PLUS", after)
        self.assertTrue(c.cmd("AUTH PLAIN " + b64(f"\0alice\0{PASSWORD}")).startswith(b"+OK"))

    def assertOk(self, line, what=""):
        self.assertTrue(line.startswith(b"+OK"), f"{what}: expected +OK, got {line!r}")

    def assertErr(self, line, what=""):
        self.assertTrue(line.startswith(b"-ERR"), f"{what}: expected -ERR, got {line!r}")


class CurlSasl(SaslTlsTestCase):

    def setUp(self):
        super().setUp()
        self.curl = require_tool(self, "curl")

    def fetch(self, mechanism, n):
        r = self.run_client([
            self.curl, "--silent", "--show-error", "--verbose", "--max-time", "60",
            "--cacert", self.certs.ca_cert, "--user", f"alice:{PASSWORD}",
            "--login-options", f"AUTH={mechanism}",
            "--resolve", f"localhost:{self.tls_port}:127.0.0.1",
            f"pop3s://localhost:{self.tls_port}/{n}"])
        self.assertIn(f"> AUTH {mechanism}".encode(), r.stderr, "curl did not use AUTH")
        return r.stdout

    def check(self, mechanism):
        self.assertEqual(self.fetch(mechanism, 1), wire_form(fixtures.NORMAL))
        self.assertEqual(self.fetch(mechanism, 2), wire_form(fixtures.DOTS))
        ev = self.server.wait_for_event("login", user="alice")
        self.assertRegex(ev.get("tls", ""), r"^TLSv1\.[23]$")

    def test_plain(self):
        self.check("PLAIN")

    def test_login(self):
        self.check("LOGIN")

    def test_cram_md5(self):
        self.check("CRAM-MD5")


class MpopScram(SaslTlsTestCase):

    def test_scram_sha_256_over_implicit_tls(self):
        mpop = require_tool(self, "mpop")
        md = os.path.join(self.work, "maildir")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub))
        self.run_client([
            mpop, "--host=127.0.0.1", f"--port={self.tls_port}", "--user=alice",
            f"--passwordeval=echo '{PASSWORD}'", "--tls=on", "--tls-starttls=off",
            f"--tls-trust-file={self.certs.ca_cert}", "--auth=scram-sha-256",
            f"--delivery=maildir,{md}", "--keep=on",
            f"--uidls-file={os.path.join(self.work, 'uidls')}", "--received-header=off",
            "--timeout=60", "--quiet"])
        got = []
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(os.path.join(md, sub))):
                with open(os.path.join(md, sub, name), "rb") as f:
                    got.append(f.read())
        self.assertEqual(sorted(got), sorted(lf_form(d) for d in (fixtures.NORMAL, fixtures.DOTS)))
        self.server.wait_for_event("login", user="alice")


if __name__ == "__main__":
    unittest.main()
