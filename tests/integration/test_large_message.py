"""A 100 MB message: RETR streams it byte-exact with bounded server memory; TOP stops early.

Memory is a property, not a timing: the server's peak RSS (VmHWM) may grow by a bounded
amount however large the message is. Under ASan the allocator keeps freed memory in
quarantine, so the memory bound is only checked on the normal build.
"""

import hashlib
import os
import unittest

from postern_harness import ServerTestCase

SIZE_MB = 100
# The server reads 256 KiB at a time and encodes it into at most twice that: a few MiB of
# slack covers allocator behaviour; a copy of the message would be 100 MiB.
PEAK_GROWTH_LIMIT = 24 * 1024 * 1024


def big_message():
    """~100 MB of LF-terminated lines, some starting with '.', deterministic."""
    header = b"From: big@example.org\nTo: alice@example.org\nSubject: 100 MB\n\n"
    block = bytearray()
    for i in range(1024):
        prefix = b"." if i % 37 == 0 else b""
        block += prefix + (b"line %06d " % i) + b"x" * 100 + b"\n"
    repeat = SIZE_MB * 1024 * 1024 // len(block)
    return header + bytes(block) * repeat


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


class LargeMessage(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.message = big_message()
        self.server.add_message("alice", self.message)
        self.wire_size = len(self.message) + self.message.count(b"\n")  # every line ends in LF

    def test_retr_streams_exactly_with_bounded_memory(self):
        c = self.server.login("alice")
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("LIST 1"), b"+OK 1 %d" % self.wire_size)
        before = vm_hwm(self.server.process.pid)
        self.assertEqual(c.cmd("RETR 1"), b"+OK %d octets" % self.wire_size)
        # Read and check incrementally: the test itself must not need 200 MB either.
        digest = hashlib.sha256()
        expected = hashlib.sha256(self.message.replace(b"\n", b"\r\n")).hexdigest()
        received = 0
        buf = bytes(c.buf)  # what the status-line read already took off the socket
        c.buf.clear()
        done = False
        first = True
        while not done:
            if not first:  # the first pass works on the bytes already read
                chunk = c.sock.recv(1 << 20)
                self.assertTrue(chunk, "connection closed mid-message")
                buf += chunk
            first = False
            last = buf.rfind(b"\r\n")
            if last < 0:
                continue
            complete, buf = buf[:last + 2], buf[last + 2:]
            lines = complete.split(b"\r\n")[:-1]
            for i, line in enumerate(lines):
                if line == b".":
                    self.assertEqual((i, buf), (len(lines) - 1, b""), "bytes after the terminator")
                    done = True
                    break
                if line.startswith(b"."):  # undo dot-stuffing
                    line = line[1:]
                digest.update(line + b"\r\n")
                received += len(line) + 2
        self.assertEqual(received, self.wire_size)
        self.assertEqual(digest.hexdigest(), expected)
        after = vm_hwm(self.server.process.pid)
        if os.environ.get("POSTERN_SANITIZED", "0") not in ("1", "ON", "TRUE"):
            self.assertLess(after - before, PEAK_GROWTH_LIMIT,
                            f"server peak RSS grew by {(after - before) >> 20} MiB during the RETR")
        self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))
        self.server.wait_for_event("logout", user="alice", retr="1",
                                   retr_bytes=str(self.wire_size))

    def test_top_reads_only_the_start(self):
        c = self.server.login("alice")
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("TOP 1 2").startswith(b"+OK"))
        body = c.read_multiline()
        lines = self.message.split(b"\n")
        expected = b"\r\n".join(lines[:4 + 2]) + b"\r\n"  # 3 headers, blank line, 2 body lines
        self.assertEqual(body, expected)
        self.assertTrue(c.cmd("NOOP").startswith(b"+OK"), "session usable after TOP")
        self.assertTrue(c.cmd("QUIT").startswith(b"+OK"))


if __name__ == "__main__":
    unittest.main()
