"""Deliveries in flight: a clean stop under load, and an agent that dies.

A SIGTERM must not cost a second delivery: the queue waits for the
outcomes of the jobs it handed out before it exits.  A message whose
delivery kills the agent is deferred after a few deaths in a row instead
of being retried for as long as the master restarts the agent.
"""

import os
import signal
import socket
import threading
import time
import unittest

import harness
from harness import BulwarkTest


class HangSink:
    """A relayhost that accepts connections and never says a word, so
    that a remote delivery stays in flight until the agent dies."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conns.append(c)

    def connections(self):
        with self.lock:
            return len(self.conns)

    def release(self):
        """Close the connections held so far: their deliveries fail."""
        with self.lock:
            for c in self.conns:
                c.close()

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()


class StopTest(BulwarkTest):

    def test_sigterm_delivers_once(self):
        """SIGTERM of the master under load, then a restart, three times:
        every acknowledged message is delivered exactly once."""
        d = self.daemon()
        acked = {}
        for rnd in range(3):
            load = harness.Load(d, "t%d" % rnd).start()
            if not harness.wait_until(lambda: load.count() >= 60, 60):
                self.fail("only %d messages acknowledged" % load.count())
            rc = d.stop()
            load.halt()
            self.assertEqual(rc, 0, "round %d: bulwarkd did not stop "
                             "cleanly:\n%s" % (rnd, d.log_tail()))
            acked.update(load.acked)
            d.start()
        mbox = d.maildir("someone")
        harness.wait_until(
            lambda: set(acked) <= set(harness.message_ids(mbox)), 90,
            step=0.5)
        self.assertTrue(harness.wait_until(d.queue_empty, 60, step=0.5),
                        "the queue did not empty")
        have = harness.message_ids(mbox)
        lost = sorted(m for m in acked if m not in have)
        twice = sorted(m for m, n in have.items() if n > 1)
        print("\n    %d acknowledged, %d lost, %d delivered twice"
              % (len(acked), len(lost), len(twice)))
        self.assertEqual(lost, [], "acknowledged messages lost")
        self.assertEqual(twice, [], "messages delivered more than once")

    def kill_agent_per_attempt(self, d, sink, kills):
        """SIGKILL the remote agent while each of the first `kills`
        delivery attempts hangs on the sink; the last pid killed."""
        pid = None
        for k in range(kills):
            self.assertTrue(harness.wait_until(
                lambda: sink.connections() > k, 30),
                "attempt %d never reached the relayhost" % (k + 1))
            pid = d.children().get("remote")
            self.assertIsNotNone(pid, "no remote agent")
            os.kill(pid, signal.SIGKILL)
            harness.wait_until(lambda: not harness.proc_alive(pid), 10)
        return pid

    def test_agent_crash_defers(self):
        """After three agent deaths in a row the message is deferred with
        the normal back-off, and not handed out again meanwhile."""
        sink = HangSink()
        self.addCleanup(sink.close)
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port,
                        minimal_backoff="300s", maximal_backoff="600s")
        code, text = d.send(b"Subject: crash\r\n\r\nbody\r\n",
                            rcpts=("far@remote.test",))
        self.assertEqual(code, 250, text)
        crash = d.queue_id_from(text)
        killed = self.kill_agent_per_attempt(d, sink, 3)
        self.assertTrue(harness.wait_until(
            lambda: harness.mailq_deferred(d.mailq(), crash,
                                           "delivery agent died"),
            30, step=0.5), "not deferred after three agent deaths")
        # A marker through the restarted agent: a message waiting for the
        # agent would be handed out with it or before it.
        self.assertTrue(harness.wait_until(
            lambda: d.children().get("remote") not in (None, killed), 30),
            "the remote agent was not restarted")
        code, text = d.send(b"Subject: marker\r\n\r\nbody\r\n",
                            rcpts=("marker@remote.test",))
        self.assertEqual(code, 250, text)
        marker = d.queue_id_from(text)
        self.assertTrue(harness.wait_until(
            lambda: sink.connections() >= 4, 30),
            "the marker never reached the relayhost")
        sink.release()
        self.assertTrue(harness.wait_until(
            lambda: harness.mailq_deferred(d.mailq(), marker), 30,
            step=0.5), "the marker's failed attempt was not recorded")
        # Only the marker's attempt came after the deaths; the crashing
        # message waits for its back-off of 300 s.
        self.assertEqual(sink.connections(), 4)
        self.assertTrue(harness.mailq_deferred(d.mailq(), crash,
                                               "delivery agent died"))

    def test_agent_crash_expires(self):
        """With queue_lifetime = 0 that deferral is a bounce: such a
        message leaves the queue with a report to its sender."""
        sink = HangSink()
        self.addCleanup(sink.close)
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port,
                        queue_lifetime="0")
        code, text = d.send(b"Subject: crash\r\n\r\nbody\r\n",
                            sender="someone@example.test",
                            rcpts=("far@remote.test",))
        self.assertEqual(code, 250, text)
        self.kill_agent_per_attempt(d, sink, 3)
        mbox = d.maildir("someone")
        self.assertTrue(mbox.wait_count(1, 30), "no bounce")
        _, report = mbox.messages()[0]
        # Expired at its first temporary failure: delivery time expired,
        # and the reason is the agent's death.
        self.assertRegex(report, rb"(?m)^Status: 4\.4\.7\r?$")
        self.assertIn(b"delivery agent died", report)
        self.assertTrue(harness.wait_until(d.queue_empty, 30, step=0.5),
                        "the message stayed in the queue")
        self.assertEqual(sink.connections(), 3)


class StopRefusesTest(BulwarkTest):

    def test_no_silent_accept_while_stopping(self):
        """While the queue waits for a delivery in flight, SMTP clients
        and sendmail are refused at once instead of being accepted by a
        socket that nobody serves any more."""
        sink = HangSink()
        self.addCleanup(sink.close)
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        code, text = d.send(b"Subject: hang\r\n\r\nx\r\n",
                            rcpts=("far@remote.test",))
        self.assertEqual(code, 250, text)
        self.assertTrue(harness.wait_until(
            lambda: sink.connections() >= 1, 20), "no delivery started")
        d.signal(signal.SIGTERM)
        # smtpd is gone within its stop time; the queue still waits.
        self.assertTrue(harness.wait_until(
            lambda: "smtpd" not in d.children(), 20),
            "smtpd did not stop:\n%s" % d.log_tail())
        self.assertIsNone(d.wait_exit(1), "stopped without waiting")
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", d.port), 5) as c:
                c.settimeout(5)
                first = c.recv(3)
        except ConnectionRefusedError:
            first = b"refused"
        except socket.timeout:
            first = b""
        self.assertIn(first, (b"refused", b"421"),
                      "a client was accepted and left without a greeting")
        self.assertLess(time.monotonic() - t0, 4)
        # sendmail keeps the message: it goes to the maildrop.
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path,
                                     "someone@example.test"],
                  input=b"Subject: during stop\n\nx\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.listdir(os.path.join(d.spool, "maildrop")))
        self.assertIsNotNone(d.wait_exit(60), "the stop never ended")


if __name__ == "__main__":
    unittest.main()
