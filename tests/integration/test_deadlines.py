"""Deadlines: the session's lifetime, the least data rate, and overload.

smtpd_session_lifetime ends a session however busy its client keeps
it; smtpd_min_data_rate ends a DATA that trickles; past
overload_fill_limit percent of connection_limit every deadline is cut
to overload_deadline_percent of itself (the pre-greet wait too), and
restored once the sessions drain.  Every figure here is a configured
deadline: what is checked is which side of it a reply falls on.
"""

import time
import unittest

from harness import BulwarkTest


class DeadlineTest(BulwarkTest):

    def closed_after(self, c):
        """(what the server sent until it closed, seconds taken)."""
        start = time.monotonic()
        data, closed = c.read_all(timeout=40)
        self.assertTrue(closed, "still open: %r" % data)
        return data, time.monotonic() - start

    def overloaded(self, **conf):
        """A daemon for which 5 sessions are overload (50% of 10), and
        overload leaves 10% of each deadline."""
        return self.daemon(connection_limit="10", overload_fill_limit="50",
                           overload_deadline_percent="10", **conf)

    def clients(self, d, sources, greet=True):
        cs = [d.raw(source=src, greet=greet) for src in sources]
        self.addCleanup(lambda: [c.close() for c in cs])
        return cs

    def assert_timed_out(self, c):
        data, _ = self.closed_after(c)
        self.assertTrue(data.startswith(b"421 4.4.2 "), data)

    def test_session_lifetime(self):
        d = self.daemon(smtpd_session_lifetime="3s")
        with d.raw(source="127.0.5.1") as c:
            start = time.monotonic()
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            # Busy, but past its lifetime all the same.
            while time.monotonic() - start < 2:
                self.assertEqual(c.cmd("NOOP")[0], 250)
                time.sleep(0.2)
            self.assert_timed_out(c)
            self.assertGreaterEqual(time.monotonic() - start, 2.5)

    def test_min_data_rate(self):
        d = self.daemon(smtpd_min_data_rate="1000")
        with d.raw(source="127.0.5.2") as c:
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<someone@example.test>")[0],
                             250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            start = time.monotonic()
            c.send(b"Subject: slow\r\n")
            self.assert_timed_out(c)
            # The grace is 5 s, and 15 bytes buy 15 ms more.
            self.assertGreaterEqual(time.monotonic() - start, 4.5)
        self.assertTrue(d.queue_empty())
        # A client at full speed is not troubled.
        msg = (b"From: a@example.org\r\n\r\n" +
               b"line of text at full speed\r\n" * 2000)
        code, text = d.send(msg, source="127.0.5.2")
        self.assertEqual(code, 250, text)
        self.assertTrue(d.maildir().wait_count(1, 30))

    def test_overload_cuts_and_restores_timeouts(self):
        # Overload: 30 s become 3 s.
        d = self.overloaded(smtpd_timeout="30s")
        holders = self.clients(d, ["127.0.6.%d" % i for i in range(1, 6)])
        start = time.monotonic()
        for c in holders:
            self.assert_timed_out(c)
        self.assertLess(time.monotonic() - start, 25)
        # Drained: the next session has its 30 s again.
        with d.raw(source="127.0.6.9") as c:
            self.assertEqual(c.quiet(5), b"")
            self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_overload_reaches_screened_sessions(self):
        """Sessions still in their pre-greet wait when overload begins
        are greeted at once and then have the cut command timeout."""
        d = self.overloaded(smtpd_timeout="30s", pregreet_delay="20s")
        screened = self.clients(d, ["127.0.8.%d" % i for i in range(1, 5)],
                                greet=False)
        for c in screened:
            self.assertTrue(c.line().startswith("220-"))
        # The fifth session: overload.
        self.clients(d, ["127.0.0.1"])
        start = time.monotonic()
        for c in screened:
            self.assertTrue(c.line().startswith("220 "))
            self.assert_timed_out(c)
        self.assertLess(time.monotonic() - start, 20)

    def test_overload_cuts_the_pregreet_wait(self):
        d = self.overloaded(pregreet_delay="40s")
        # mynetworks holders: no pre-greet wait of their own.
        self.clients(d, ["127.0.0.1"] * 5)
        with d.raw(source="127.0.7.1") as c:
            # RawClient waits for the last banner line: 4 s now.
            self.assertEqual(c.banner[0], 220)
            self.assertEqual(len(c.banner[1]), 2, c.banner)


if __name__ == "__main__":
    unittest.main()
