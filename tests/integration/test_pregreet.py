"""The pre-greet test, from real client sockets on 127.x addresses.

A network client not in mynetworks and not known to have passed hears
the first line of a multi-line banner at once and the last only after
pregreet_delay.  One that talks before the last line gets 554 5.5.1 and
is cut off, and is tested again next time; one that waits is greeted,
may send mail, and is greeted at once for pregreet_pass_time.
"""

import signal
import time
import unittest

import harness
from harness import BulwarkTest


def message(tag):
    return ("From: a@example.org\r\nMessage-ID: <pregreet.%s@client.test>"
            "\r\n\r\npregreet %s\r\n" % (tag, tag)).encode()


class PregreetTest(BulwarkTest):

    DELAY = 2

    def setUp(self):
        super().setUp()
        self.clients = []
        self.addCleanup(lambda: [c.close() for c in self.clients])

    def connect(self, d, source):
        """A client from source that reads the banner line by line."""
        c = d.raw(source=source, greet=False)
        self.clients.append(c)
        return c

    def rest(self, c):
        """What the server sends until it closes."""
        data, closed = c.read_all(timeout=30)
        self.assertTrue(closed, "still open: %r" % data)
        return data

    def screened(self, **conf):
        conf.setdefault("pregreet_delay", "%ds" % self.DELAY)
        return self.daemon(**conf)

    def test_quiet_client_passes_and_is_remembered(self):
        d = self.screened()
        c = self.connect(d, "127.0.5.1")
        self.assertTrue(c.line().startswith("220-"))
        # The rest of the banner waits for the delay.
        self.assertEqual(c.quiet(self.DELAY / 4), b"")
        self.assertTrue(c.line().startswith("220 "))
        c.close()
        # It passed: greeted at once, with a one-line banner, and its
        # mail arrives.
        c = self.connect(d, "127.0.5.1")
        self.assertTrue(c.line().startswith("220 "))
        c.close()
        code, text = d.send(message("pass"), source="127.0.5.1")
        self.assertEqual(code, 250, text)
        box = d.maildir()
        self.assertTrue(box.wait_count(1, 30))
        [(path, data)] = box.messages()
        self.assertTrue(harness.delivered_intact(data,
                                                 message("pass"))[0], data)

    def test_talker_is_cut_off_and_tested_again(self):
        d = self.screened()
        c = self.connect(d, "127.0.6.1")
        self.assertTrue(c.line().startswith("220-"))
        c.send(b"EHLO hasty.test\r\n")
        rest = self.rest(c)
        self.assertTrue(rest.startswith(b"554 5.5.1 "), rest)
        self.assertEqual(rest.count(b"\r\n"), 1, rest)
        # No pass was recorded: the next connection waits again.
        c = self.connect(d, "127.0.6.1")
        self.assertTrue(c.line().startswith("220-"))
        c.close()
        # Nothing was queued by the talker.
        self.assertTrue(d.queue_empty())

    def test_stop_during_the_wait(self):
        """A stop while the banner waits closes without a 421: after a
        "220-" line no other code may follow."""
        d = self.screened(pregreet_delay="30s")
        c = self.connect(d, "127.0.9.1")
        self.assertTrue(c.line().startswith("220-"))
        d.signal(signal.SIGTERM)
        self.assertEqual(self.rest(c), b"")
        self.assertIsNotNone(d.wait_exit(40))

    def test_mynetworks_greeted_at_once(self):
        d = self.screened()
        c = self.connect(d, "127.0.0.1")
        self.assertTrue(c.line().startswith("220 "))

    def test_pass_expires(self):
        d = self.screened(pregreet_pass_time="1s")
        c = self.connect(d, "127.0.7.1")
        self.assertTrue(c.line().startswith("220-"))
        self.assertTrue(c.line().startswith("220 "))
        c.close()
        time.sleep(1.5)
        c = self.connect(d, "127.0.7.1")
        self.assertTrue(c.line().startswith("220-"))

    def test_smtplib_waits(self):
        """A well-behaved client library waits out the delay."""
        d = self.screened()
        code, text = d.send(message("lib"), source="127.0.8.1")
        self.assertEqual(code, 250, text)
        self.assertTrue(d.maildir().wait_count(1, 30))


if __name__ == "__main__":
    unittest.main()
