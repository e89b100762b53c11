"""The error tarpit: each error reply in a row waits longer.

With smtpd_error_delay = 1s the n-th 5xx in a row is sent n seconds
after its command (at most 5), a success starts the count again, and
while the session table is fuller than tarpit_fill_limit percent an
error gets a quick 421 and the connection is closed instead of held.
"""

import time
import unittest

from harness import BulwarkTest


class TarpitTest(BulwarkTest):

    def timed(self, c, line):
        start = time.monotonic()
        code, lines = c.cmd(line)
        return code, time.monotonic() - start

    def test_delays_grow_and_reset(self):
        d = self.daemon(smtpd_error_delay="1s")
        with d.raw(source="127.0.5.1") as c:
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            code, took = self.timed(c, "BOGUS")
            self.assertEqual(code, 500)
            self.assertGreaterEqual(took, 0.9)
            code, took = self.timed(c, "BOGUS")
            self.assertEqual(code, 500)
            self.assertGreaterEqual(took, 1.9)
            # A success starts the count again: the next error waits
            # one step, not three.
            self.assertEqual(c.cmd("NOOP")[0], 250)
            code, took = self.timed(c, "BOGUS")
            self.assertEqual(code, 500)
            self.assertGreaterEqual(took, 0.9)
            self.assertLess(took, 2.9)
            self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_unknown_recipients_are_slowed(self):
        """Each refused RCPT waits longer (here relaying, refused to a
        client outside mynetworks)."""
        d = self.daemon(smtpd_error_delay="1s")
        with d.raw(source="127.0.5.2") as c:
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
            code, took = self.timed(c, "RCPT TO:<a@elsewhere.example>")
            self.assertEqual(code // 100, 5)
            self.assertGreaterEqual(took, 0.9)
            code, took = self.timed(c, "RCPT TO:<b@elsewhere.example>")
            self.assertEqual(code // 100, 5)
            self.assertGreaterEqual(took, 1.9)
            # A known recipient still goes through, and resets it.
            self.assertEqual(c.cmd("RCPT TO:<someone@example.test>")[0],
                             250)

    def test_full_table_gets_quick_421(self):
        d = self.daemon(smtpd_error_delay="5s", connection_limit="4",
                        tarpit_fill_limit="50")
        with d.raw(source="127.0.5.3") as other, \
                d.raw(source="127.0.5.4") as c:
            self.assertEqual(other.banner[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            code, took = self.timed(c, "BOGUS")
            self.assertEqual(code, 421)
            self.assertLess(took, 5)
            data, closed = c.read_all(timeout=10)
            self.assertEqual((data, closed), (b"", True))


if __name__ == "__main__":
    unittest.main()
