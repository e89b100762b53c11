"""The maildrop pickup: mail sendmail left while the daemon was down."""

import concurrent.futures
import os
import time
import unittest

import harness
from harness import BulwarkTest


def msg(tag):
    return (b"To: someone@example.test\nSubject: %s\n\nbody of %s\n"
            % (tag.encode(), tag.encode()))


class MaildropTest(BulwarkTest):

    def test_backlog_drains_fast(self):
        """A backlog in the maildrop drains at the speed of the queue, not
        one file a second, and each message arrives once."""
        n = 200
        d = self.daemon()
        d.stop()

        def drop(i):
            return d.cli(harness.SENDMAIL,
                         ["-C", d.conf_path, "-t", "-i"],
                         input=msg("backlog-%d" % i))
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            for r in ex.map(drop, range(n)):
                self.assertEqual(r.returncode, 0, r.stderr)
        mbox = d.maildir()
        self.assertEqual(mbox.count(), 0)
        began = time.monotonic()
        d.start()
        # At one file a second this would take over 200 s.
        self.assertTrue(mbox.wait_count(n, 30),
                        "%d of %d picked up and delivered in 30 s"
                        % (mbox.count(), n))
        took = time.monotonic() - began
        self.assertTrue(harness.wait_until(d.queue_empty, 30, step=0.5),
                        "the queue did not empty")
        copies = {}
        for _, data in mbox.messages():
            s = harness.header_value(data, "subject")
            copies[s] = copies.get(s, 0) + 1
        self.assertEqual(sorted(copies),
                         sorted("backlog-%d" % i for i in range(n)))
        self.assertEqual([s for s, k in copies.items() if k > 1], [])
        left = [f for f in os.listdir(os.path.join(d.spool, "maildrop"))
                if not f.startswith(".")]
        self.assertEqual(left, [])
        print("\n    %d maildrop files delivered in %.1f s" % (n, took))


if __name__ == "__main__":
    unittest.main()
