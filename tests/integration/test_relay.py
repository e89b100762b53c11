"""Relaying to the relayhost: arrival, retries, bounces, the queue."""

import os
import re
import time

import harness
from harness import BulwarkTest

REMOTE = "user@remote.example"


def simple(tid, extra=b""):
    return (b"X-Test-Id: " + tid.encode() + b"\r\n"
            b"From: sender@example.org\r\nTo: " + REMOTE.encode() + b"\r\n"
            b"Subject: relay test\r\nMessage-ID: <" + tid.encode() +
            b"@example.org>\r\n" + extra + b"\r\nrelay body\r\n.dot line\r\n")


class RelayTest(BulwarkTest):

    def test_relay_to_smtp_sink(self):
        """Mail for another domain from 127.0.0.1 reaches Postfix's
        smtp-sink through relayhost, content intact."""
        d = self.daemon(start=False)
        sink = self.smtpsink(d)
        d.conf["relayhost"] = "[127.0.0.1]:%d" % sink.port
        d.write_config()
        d.start()
        msg = simple("to-smtp-sink")
        code, text = d.send(msg, rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        dumps = harness.wait_until(
            lambda: [x for x in sink.dumps() if b"to-smtp-sink" in x], 30)
        self.assertTrue(dumps, "nothing arrived at smtp-sink")
        self.assertEqual(len(dumps), 1)
        dump = dumps[0]
        self.assertIn(b"X-Rcpt-Args: <%s>" % REMOTE.encode(), dump)
        self.assertIn(b"X-Mail-Args: <sender@example.org>", dump)
        i = dump.index(b"X-Test-Id: to-smtp-sink")
        # The dump ends with an empty line after the message.
        self.assertEqual(harness.lf(dump[i:]),
                         harness.lf(msg) + b"\n")
        # Bulwark's Received: header comes before the content.
        self.assertRegex(dump[:i], rb"(?m)^Received: ")

    def test_relay_keeps_corpus_intact(self):
        """tests/data through the relay: the sink gets each message byte
        for byte (CRLF, dot-stuffing undone) after Bulwark's trace."""
        sink = self.pysink()
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        expect = harness.read_expect(
            os.path.join(harness.DATA_DIR, "EXPECT.tsv"))
        sent = {}		# queue id -> (name, data)
        for name in sorted(os.listdir(harness.DATA_DIR)):
            if not name.endswith(".eml") or name in expect:
                continue
            with open(os.path.join(harness.DATA_DIR, name), "rb") as f:
                data = f.read()
            code, text = d.send(data, rcpts=[REMOTE])
            with self.subTest(file=name, stage="smtp"):
                self.assertEqual(code, 250, text)
            sent[d.queue_id_from(text)] = (name, data)
        sink.wait_messages(len(sent), 90)
        got = {}
        for m in sink.messages:
            got.setdefault(harness.own_queue_id(m["data"]), []).append(m)
        for qid, (name, data) in sorted(sent.items()):
            with self.subTest(file=name, stage="relay"):
                msgs = got.get(qid, [])
                self.assertEqual(len(msgs), 1)
                m = msgs[0]
                self.assertEqual(m["rcpts"], ["<%s>" % REMOTE])
                raw = m["data"]
                self.assertIsNone(re.search(rb"\r(?!\n)|(?<!\r)\n", raw),
                                  "bare CR or LF on the wire")
                # Only Received: is added on the way out.
                self.assertDelivered(raw, data, what=name,
                                     fields=("received",))

    def test_retry_after_4xx(self):
        """A relayhost that answers 451 twice gets the message on a later
        attempt, once."""
        sink = self.pysink(fail_first=2)
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        code, text = d.send(simple("retry"), rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(sink.wait_messages(1, 60),
                        "no delivery after %d attempts" % sink.attempts)
        self.assertGreaterEqual(sink.attempts, 3)
        time.sleep(2)
        self.assertEqual(len(sink.messages), 1)
        self.assertIn(b"X-Test-Id: retry", sink.messages[0]["data"])

    def test_retry_after_4xx_at_data(self):
        """The same with the 451 at the end of data."""
        sink = self.pysink(fail_first=2, fail_at="data")
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        code, text = d.send(simple("retry-data"), rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(sink.wait_messages(1, 60))
        self.assertGreaterEqual(sink.attempts, 3)
        time.sleep(2)
        self.assertEqual(len(sink.messages), 1)

    def test_bounce_after_5xx(self):
        """A 550 from the relayhost bounces with an RFC 3464 report to the
        envelope sender."""
        sink = self.pysink(fail_first=1000,
                           fail_code="550 5.1.1 No such user here")
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        code, text = d.send(simple("to-bounce"), rcpts=[REMOTE],
                            sender="someone@example.test")
        self.assertEqual(code, 250, text)
        mbox = d.maildir("someone")
        self.assertTrue(mbox.wait_count(1, 60), "no bounce arrived")
        _, bounce = mbox.messages()[0]
        self.assertRegex(bounce, rb"(?i)content-type:\s*multipart/report;"
                                 rb"[^\n]*\n?[^\n]*report-type=\"?"
                                 rb"delivery-status")
        self.assertRegex(bounce, rb"(?i)content-type:\s*"
                                 rb"message/delivery-status")
        self.assertRegex(bounce, rb"(?i)final-recipient:\s*rfc822;\s*"
                                 + re.escape(REMOTE.encode()))
        self.assertRegex(bounce, rb"(?i)action:\s*failed")
        self.assertRegex(bounce, rb"(?i)status:\s*5\.1\.1")
        self.assertEqual(harness.header_value(bounce, "Return-Path"), "<>")
        self.assertIn(b"to-bounce", bounce)

    def test_bounce_after_lifetime(self):
        """A recipient deferred past queue_lifetime bounces with a report
        that says the delivery was tried and failed for good."""
        closed = harness.free_port()
        d = self.daemon(relayhost="[127.0.0.1]:%d" % closed,
                        queue_lifetime="4s")
        code, text = d.send(simple("too-old"), rcpts=[REMOTE],
                            sender="someone@example.test")
        self.assertEqual(code, 250, text)
        mbox = d.maildir("someone")
        self.assertTrue(mbox.wait_count(1, 60), "no bounce arrived")
        _, bounce = mbox.messages()[0]
        self.assertRegex(bounce, rb"(?i)final-recipient:\s*rfc822;\s*"
                                 + re.escape(REMOTE.encode()))
        self.assertRegex(bounce, rb"(?i)action:\s*failed")
        self.assertRegex(bounce, rb"(?i)\nstatus:\s*4\.")
        self.assertEqual(harness.header_value(bounce, "Return-Path"), "<>")
        self.assertIn(b"too-old", bounce)
        # It has left the queue.
        harness.wait_until(lambda: d.queue_id_from(text) not in
                           d.cli(harness.MAILQ, ["-C", d.conf_path])
                           .stdout.decode(), 20)
        out = d.cli(harness.MAILQ, ["-C", d.conf_path]).stdout.decode()
        self.assertNotIn(d.queue_id_from(text), out)

    def test_no_bounce_to_null_sender(self):
        """A message from <> that fails for good is dropped, not bounced:
        nothing comes back to the local postmaster or anyone else."""
        sink = self.pysink(fail_first=1000,
                           fail_code="550 5.1.1 No such user here")
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        code, text = d.send(simple("from-null"), rcpts=[REMOTE], sender="")
        self.assertEqual(code, 250, text)
        qid = d.queue_id_from(text)

        def gone():
            out = d.cli(harness.MAILQ, ["-C", d.conf_path]).stdout.decode()
            return sink.attempts >= 1 and qid not in out
        self.assertTrue(harness.wait_until(gone, 30),
                        "the message never left the queue")
        # A bounce would have gone to the relayhost too (it is remote);
        # only the one refused attempt reached it, and no mailbox got
        # anything.
        time.sleep(2)
        self.assertEqual(sink.attempts, 1)
        self.assertEqual(sink.messages, [])
        self.assertEqual(os.listdir(d.mail), [])

    def test_mailq_shows_deferred(self):
        """relayhost on a closed port: the message stays in the queue and
        mailq (Postfix layout) shows it with its queue id."""
        closed = harness.free_port()
        d = self.daemon(relayhost="[127.0.0.1]:%d" % closed)
        code, text = d.send(simple("deferred"), rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        qid = d.queue_id_from(text)
        self.assertTrue(qid, "no queue id in %r" % text)
        time.sleep(2)   # let the first attempt fail

        def listed():
            r = d.cli(harness.MAILQ, ["-C", d.conf_path])
            out = r.stdout.decode("utf-8", "replace")
            if r.returncode == 0 and qid in out and REMOTE in out:
                return out
            return None
        out = harness.wait_until(listed, 20, step=0.5)
        self.assertTrue(out, "mailq never listed %s" % qid)
        self.assertRegex(out, r"(?m)^-Queue ID-")
        self.assertRegex(out, r"(?m)^%s\S*\s+\d+\s+\w{3} \w{3}\s+\d+ "
                              r"\d\d:\d\d:\d\d\s+sender@example\.org$"
                         % re.escape(qid))
        self.assertRegex(out, r"(?m)^\s+%s$" % re.escape(REMOTE))
        self.assertRegex(out, r"(?m)^-- \d+ Kbytes in 1 Request\.$")
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path, "-bp"])
        self.assertEqual(r.returncode, 0)
        self.assertIn(qid, r.stdout.decode())
