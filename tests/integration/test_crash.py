"""Nothing acknowledged is lost: kill -9 of every process, and a power cut.

Several senders keep sending while the daemon is killed.  Each records
the Message-ID of every message that got "250 ... queued as ID"; after a
restart every one of them must be in the Maildir.  After a kill or a
power cut a message may arrive twice (it was delivered but its outcome
record was not yet durable); the count is reported, never a failure.
The full-disk tests kill nothing, so there each message arrives once.
"""

import os
import signal
import subprocess
import time
import unittest

import harness
from harness import BulwarkTest

REMOTE = harness.Load.REMOTE
PAD = harness.Load.PAD


class CrashTest(BulwarkTest):

    def wait_acked(self, load, n, timeout=60):
        if not harness.wait_until(lambda: load.count() >= n, timeout):
            self.fail("only %d messages acknowledged in %ds"
                      % (load.count(), timeout))

    def check_all_delivered(self, d, acked, what, sink=None, once=False):
        """Every acknowledged message arrives (in the Maildir or at the
        sink); with once, none of them twice."""
        mbox = d.maildir("someone")

        def arrived():
            have = harness.message_ids(mbox)
            if sink is not None:
                for mid, n in sink.message_ids().items():
                    have[mid] = have.get(mid, 0) + n
            return have

        def complete():
            have = arrived()
            return all(m in have for m in acked)
        if sink is not None:
            d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
        harness.wait_until(complete, 90, step=0.5)
        have = arrived()
        lost = sorted(m for m in acked if m not in have)
        twice = sum(1 for m in acked if have.get(m, 0) > 1)
        print("\n    %s: %d acknowledged, %d lost, %d delivered twice"
              % (what, len(acked), len(lost), twice))
        self.assertEqual(lost, [], "%s: acknowledged messages lost (of %d)"
                         % (what, len(acked)))
        if once:
            self.assertEqual(twice, 0, "%s: messages delivered twice"
                             % what)

    def assert_once_after_restart(self, d, sink, tag):
        """Restart d, then send a marker: once the marker has reached
        the sink and the queue is empty, anything the restart would
        deliver again has arrived too, so every Message-ID must be
        there exactly once."""
        d.stop()
        d.start()
        marker = "<%s-marker@client.test>" % tag
        msg = ("From: a@example.org\r\nMessage-ID: %s\r\n\r\nmarker\r\n"
               % marker).encode()
        code, text = d.send(msg, rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(harness.wait_until(
            lambda: marker in sink.message_ids(), 60, step=0.2),
            "the marker never reached the relayhost")
        self.assertTrue(harness.wait_until(d.queue_empty, 30, step=0.5),
                        "the queue did not empty:\n%s" % d.mailq())
        twice = sorted(m for m, n in sink.message_ids().items() if n > 1)
        self.assertEqual(twice, [], "delivered again after a restart")

    def test_kill9_everything(self):
        """kill -9 of every process under load: nothing acked is lost."""
        d = self.daemon()
        acked = {}
        for rnd in range(3):
            load = harness.Load(d, "k%d" % rnd).start()
            self.wait_acked(load, 30 * (rnd + 1))
            d.kill_all()
            load.halt()
            acked.update(load.acked)
            d.start()
        self.check_all_delivered(d, acked, "kill -9 of every process")

    def test_kill9_queue_alone(self):
        """kill -9 of the queue process: the master restarts it and
        nothing acked is lost."""
        d = self.daemon()
        acked = {}
        for rnd in range(3):
            load = harness.Load(d, "q%d" % rnd).start()
            self.wait_acked(load, 20 * (rnd + 1))
            old = d.children().get("queue")
            os.kill(old, signal.SIGKILL)
            harness.wait_until(
                lambda: d.children().get("queue") not in (None, old), 30)
            time.sleep(0.5)
            load.halt()
            acked.update(load.acked)
        self.check_all_delivered(d, acked, "kill -9 of the queue")

    @unittest.skipUnless(harness.TEST_HOOKS, "needs the test build")
    def test_power_cut(self):
        """The queue cuts every segment to its last synced length and
        drops unsynced directory entries, under load: every message that
        got 250 before the cut is still there after recovery.  Small
        segments make the log rotate under the load, and a third of the
        mail waits for a relayhost that is down, so it lives only in the
        log when the power goes."""
        port = harness.free_port()
        d = self.daemon(segment_size="1M",
                        relayhost="[127.0.0.1]:%d" % port)
        acked = {}
        for rnd in range(3):
            load = harness.Load(d, "p%d" % rnd, remote_share=3,
                        pad_lines=40).start()
            self.wait_acked(load, 300 * (rnd + 1))
            q = d.children().get("queue")
            # Snapshot before the cut: a 250 that arrives later may be
            # for a message the cut had already lost (a reply in flight
            # can never be from after the cut: the queue exits first).
            os.kill(q, signal.SIGUSR2)
            harness.wait_until(lambda: not harness.proc_alive(q), 20)
            d.kill_all()
            load.halt()
            acked.update(load.acked)
            d.start()
        # A segment filled up to near its size: the log turned over under
        # the load, not only at the restarts.
        log = os.path.join(d.spool, "log")
        sizes = [os.path.getsize(os.path.join(log, n))
                 for n in os.listdir(log) if n.endswith(".seg")]
        self.assertTrue(any(900 * 1024 < z <= 1024 * 1024 for z in sizes),
                        "the log never rotated: %s" % sizes)
        sink = self.pysink(port=port)
        self.check_all_delivered(d, acked, "power cut", sink)

    def small_log_daemon(self):
        """A daemon whose log/ is a 4 MiB tmpfs with 1 MiB segments,
        relaying to a port where nothing listens yet."""
        if not harness.IS_ROOT:
            self.skipTest("needs root to mount a tmpfs")
        port = harness.free_port()
        d = self.daemon(start=False, segment_size="1M",
                        relayhost="[127.0.0.1]:%d" % port)
        log = os.path.join(d.spool, "log")
        os.mkdir(log)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m",
                            "tmpfs", log], capture_output=True)
        # As root the mount must work: a skip would hide it in CI.
        self.assertEqual(r.returncode, 0, "cannot mount a tmpfs: %s"
                         % r.stderr.decode("utf-8", "replace"))
        self.addCleanup(subprocess.run, ["umount", "-l", log],
                        capture_output=True)
        d.start()
        return d, port

    def fill(self, d, tag, body, most):
        """Send messages for REMOTE until one is refused (at most most).
        Returns ({Message-ID: queue id}, the refusal or None)."""
        acked = {}
        for i in range(most):
            mid = "<%s.%d@client.test>" % (tag, i)
            msg = ("From: a@example.org\r\nTo: %s\r\nMessage-ID: %s\r\n"
                   "\r\n%s" % (REMOTE, mid, body)).encode()
            code, text = d.send(msg, rcpts=[REMOTE])
            if code != 250:
                return acked, (code, text)
            acked[mid] = d.queue_id_from(text)
        return acked, None

    def test_full_disk_restart(self):
        """The same, with a restart while the log disk is full: the
        queue still gets the records that finish messages written,
        frees segments as it delivers, and takes mail again; nothing is
        delivered twice."""
        d, port = self.small_log_daemon()
        acked, refused = self.fill(d, "fullr", PAD * 2500, 100)  # 195 KiB
        self.assertIsNotNone(refused, "the disk never filled")
        self.assertEqual(refused[0], 452, refused)
        d.stop()
        d.start()
        sink = self.pysink(port=port)
        self.check_all_delivered(d, acked, "full disk, restarted", sink,
                                 once=True)

        def takes_mail():
            msg = (b"From: a@example.org\r\nMessage-ID: <after-r@x>\r\n"
                   b"\r\nafter\r\n")
            return d.send(msg, rcpts=[REMOTE])[0] == 250
        self.assertTrue(harness.wait_until(takes_mail, 60, step=1),
                        "still refusing mail after the queue emptied")
        self.assert_once_after_restart(d, sink, "fullr")

    def test_full_disk(self):
        """The log on a small filesystem that fills up: new mail gets
        452 4.3.1, what was acknowledged stays, and once the queue has
        delivered (and freed segments) it takes mail again by itself.
        Nothing is delivered twice after a restart."""
        d, port = self.small_log_daemon()
        acked, refused = self.fill(d, "full", PAD * 50, 3000)
        self.assertIsNotNone(refused, "the disk never filled")
        self.assertEqual((refused[0], refused[1][:5]), (452, "4.3.1"),
                         refused)
        self.assertGreater(len(acked), 100)
        sink = self.pysink(port=port)
        d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
        self.check_all_delivered(d, acked, "full disk", sink, once=True)

        # Space came back as segments were freed: mail is taken again.
        def takes_mail():
            msg = (b"From: a@example.org\r\nMessage-ID: <after@x>\r\n"
                   b"\r\nafter\r\n")
            return d.send(msg, rcpts=[REMOTE])[0] == 250
        self.assertTrue(harness.wait_until(takes_mail, 60, step=1),
                        "still refusing mail after the queue emptied")
        self.assert_once_after_restart(d, sink, "full")


if __name__ == "__main__":
    unittest.main()
