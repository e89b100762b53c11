"""Queue quotas and the queue's figures in bulwarkctl status.

Past queue_message_limit messages or queue_size_limit bytes of content,
new mail gets 452 4.3.1 at DATA, and is taken again once the queue
drains below them.  Sessions still say 250 only for what was queued.
"""

import re
import unittest

import harness
from harness import BulwarkTest


def message(i, pad=""):
    return ("From: a@example.org\r\nMessage-ID: <quota.%d@client.test>"
            "\r\n\r\nbody %d\r\n%s" % (i, i, pad)).encode()


class QuotaTest(BulwarkTest):

    def held_daemon(self, sink, **conf):
        conf.setdefault("relayhost", "[127.0.0.1]:%d" % sink.port)
        conf.setdefault("minimal_backoff", "3600s")
        conf.setdefault("maximal_backoff", "3600s")
        return self.daemon(**conf)

    def fill(self, d, n, pad=""):
        for i in range(n):
            code, text = d.send(message(i, pad),
                                rcpts=[harness.Load.REMOTE])
            self.assertEqual(code, 250, text)

    def release(self, d, sink, defer):
        """The relayhost takes mail again: the queue drains.  Whatever
        is still in its first attempt is deferred first, so the flush
        reaches everything."""
        self.assertTrue(harness.wait_until(
            lambda: "active 0," in self.status(d), 30, step=0.2))
        defer["on"] = False
        d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
        self.assertTrue(harness.wait_until(d.queue_empty, 60, step=0.2))

    def deferring_sink(self):
        defer = {"on": True}
        sink = self.pysink(replies={
            "rcpt": lambda a: "451 4.3.0 later" if defer["on"]
            else "250 2.1.5 Ok"})
        return sink, defer

    def test_message_limit(self):
        sink, defer = self.deferring_sink()
        d = self.held_daemon(sink, queue_message_limit="5")
        self.fill(d, 5)
        code, text = d.send(message(99), rcpts=[harness.Load.REMOTE])
        self.assertEqual((code, text.split(" ")[0]), (452, "4.3.1"),
                         text)
        # Local mail waits behind the same quota.
        code, _ = d.send(message(98))
        self.assertEqual(code, 452)
        self.release(d, sink, defer)
        code, text = d.send(message(100), rcpts=[harness.Load.REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(sink.wait_messages(6, 60))
        self.assertNotIn("<quota.99@client.test>", sink.message_ids())

    def test_size_limit(self):
        """A message that would take the queue past queue_size_limit
        gets 452 4.3.1 at the end of its DATA: the quota is never
        passed, whatever the message's size."""
        sink, defer = self.deferring_sink()
        # 1 MiB of content: three messages of 300 KiB fit, a fourth not.
        d = self.held_daemon(sink, queue_size_limit="1M")
        pad = harness.Load.PAD * 4000
        self.fill(d, 3, pad)
        code, text = d.send(message(99, pad), rcpts=[harness.Load.REMOTE])
        self.assertEqual((code, text.split(" ")[0]), (452, "4.3.1"),
                         text)
        # Small mail still fits.
        code, text = d.send(message(98), rcpts=[harness.Load.REMOTE])
        self.assertEqual(code, 250, text)
        m = re.search(r"bytes (\d+) of (\d+)", self.status(d))
        self.assertLessEqual(int(m.group(1)), int(m.group(2)))
        self.release(d, sink, defer)
        # Bigger than the whole quota: never taken.
        code, text = d.send(message(97, pad * 4),
                            rcpts=[harness.Load.REMOTE])
        self.assertEqual((code, text.split(" ")[0]), (452, "4.3.1"),
                         text)
        code, text = d.send(message(100), rcpts=[harness.Load.REMOTE])
        self.assertEqual(code, 250, text)

    def test_open_transactions_count(self):
        """Transactions already at DATA count against the message
        quota: of eight sessions that reach DATA together with one
        message queued and room for five, four get 354 and four 452,
        and the queue holds five."""
        sink, _ = self.deferring_sink()
        d = self.held_daemon(sink, queue_message_limit="5")
        self.fill(d, 1)
        sessions = []
        for i in range(8):
            s = d.smtp()
            self.addCleanup(s.close)
            s.ehlo()
            self.assertEqual(s.mail("a@example.org")[0], 250)
            self.assertEqual(s.rcpt(harness.Load.REMOTE)[0], 250)
            sessions.append(s)
        codes = [s.docmd("DATA")[0] for s in sessions]
        self.assertEqual(sorted(codes), [354] * 4 + [452] * 4)
        for i, s in enumerate(sessions):
            if codes[i] != 354:
                continue
            s.send(message(10 + i) + b"\r\n.\r\n")
            code, text = s.getreply()
            self.assertEqual(code, 250, text)
        self.assertRegex(self.status(d), r"queue: messages 5,")
        self.assertRegex(self.status(d), r"queue quota: messages 5 of 5, "
                         r"bytes \d+ of \d+, reached "
                         r"\(queue_message_limit\)")

    def test_maildrop_pickup_stops_at_the_quota(self):
        """The maildrop pickup takes files only while the quota has room,
        counting the pickups in flight; the rest wait in the maildrop
        and come in as the queue drains."""
        sink, defer = self.deferring_sink()
        d = self.held_daemon(sink, queue_message_limit="5")
        d.stop()
        for i in range(20):
            r = d.cli(harness.SENDMAIL, ["-C", d.conf_path, "-i",
                                         harness.Load.REMOTE],
                      input=message(200 + i))
            self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        self.assertTrue(harness.wait_until(
            lambda: "queue: messages 5," in self.status(d), 30,
            step=0.2), self.status(d))
        # Well past a pickup turn (one second): still five.
        harness.wait_until(lambda: False, 2.5, step=0.5)
        self.assertRegex(self.status(d), r"queue: messages 5,")
        self.release(d, sink, defer)
        self.assertTrue(sink.wait_messages(20, 60))

    def test_status_figures(self):
        """status shows the queue's counts, quotas and commit figures;
        the commit counters count what was committed."""
        sink, defer = self.deferring_sink()
        d = self.held_daemon(sink, queue_message_limit="1000")
        self.fill(d, 3)
        self.assertTrue(harness.wait_until(
            lambda: "deferred 3" in self.status(d), 30, step=0.2),
            self.status(d))
        # smtpd reports the client-side latency at most a second late.
        self.assertTrue(harness.wait_until(
            lambda: "commit latency n/a" not in self.status(d), 30,
            step=0.2), self.status(d))
        out = self.status(d)
        self.assertRegex(out, r"queue: messages 3, active 0, deferred 3")
        self.assertRegex(out, r"queue quota: messages 3 of 1000, bytes "
                              r"\d+ of 8589934592")
        m = re.search(r"queue commits: batches (\d+), syncs (\d+), "
                      r"messages (\d+), messages per sync ([\d.]+), "
                      r"commit latency p50 ([\d.]+) ms, p99 ([\d.]+) ms, "
                      r"in the queue p50 ([\d.]+) ms, p99 ([\d.]+) ms",
                      out)
        self.assertIsNotNone(m, out)
        syncs, msgs = int(m.group(2)), int(m.group(3))
        self.assertEqual(msgs, 3)
        self.assertGreaterEqual(syncs, 3)
        self.assertGreater(float(m.group(6)), 0)
        self.assertLessEqual(float(m.group(5)), float(m.group(6)))
        self.assertGreater(float(m.group(8)), 0)
        self.assertLessEqual(float(m.group(7)), float(m.group(8)))

    def status(self, d):
        r = d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "status"])
        return r.stdout.decode()


if __name__ == "__main__":
    unittest.main()
