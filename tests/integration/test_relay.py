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


# Replies of the relayhost by local part, for mailq_recipient_states.
RCPT_REPLIES = {"later": "451 4.2.0 Mailbox busy, try later",
                "hard": "550 5.1.1 No such user here"}


def rcpt_reply(addr):
    return RCPT_REPLIES.get(addr.split("@")[0], "250 2.1.5 Ok")


def mailq_columns(test, out, reason_of):
    """Check Postfix's columns in mailq output: each recipient line is
    41 blanks and the address, and each reason line is right-aligned
    to column 78 (from column 0 when longer).  Returns the reason line
    above each recipient, keyed by address."""
    under = {}
    reason = None
    for line in out.splitlines():
        m = re.match(r"^( *)\((.*)\)$", line)
        if m:
            reason = m.group(2)
            test.assertEqual(len(m.group(1)), max(0, 76 - len(reason)),
                             "reason line %r" % line)
        elif line.startswith(" "):
            test.assertRegex(line, r"^ {41}\S+$")
            under[line.strip()] = reason
    for addr, want in reason_of.items():
        test.assertIn(addr, under, out)
        test.assertRegex(under[addr] or "", want, out)
    return under


class _Reader:
    """The sink's view of one connection's input: notes when each line
    came, and ends the connection (as EOF does) where ConnSink says."""

    def __init__(self, sink, rfile, wfile):
        self.sink, self.rfile, self.wfile = sink, rfile, wfile
        self.mails = 0
        self.ending = False

    def readline(self, limit=-1):
        if self.ending:
            return b""
        line = self.rfile.readline(limit)
        with self.sink.lock:
            self.sink.stamped.append((time.monotonic(), line))
        if line[:4].upper() == b"MAIL":
            self.mails += 1
            if self.sink.on_reuse and self.mails > 1:
                with self.sink.lock:
                    self.sink.refused += 1
                if self.sink.on_reuse == "421":
                    self.wfile.write(b"421 4.4.2 pysink: one message per "
                                     b"connection\r\n")
                    self.wfile.flush()
                return b""
        # The lone dot ends the data; its reply goes out before the
        # next read, so the close comes right after it.
        if line == b".\r\n" and self.sink.close_after_dot:
            self.ending = True
        return line


class ConnSink(harness.PySink):
    """A PySink that closes each connection right after the reply to
    the final dot (close_after_dot), or meets a second MAIL on one
    connection with a close, after a 421 when on_reuse is "421" or at
    once when it is "close" (refused counts those).  stamped holds each
    line read, with its time.monotonic()."""

    def __init__(self, close_after_dot=False, on_reuse=None, **kw):
        self.close_after_dot = close_after_dot
        self.on_reuse = on_reuse
        self.stamped = []
        self.refused = 0
        super().__init__(**kw)

    def _session(self, rfile, wfile):
        super()._session(_Reader(self, rfile, wfile), wfile)

    def quits(self):
        with self.lock:
            return self.commands.count("QUIT")


def reuse_tid(i):
    return "reuse-%d" % i


def reuse_rcpts(i):
    return ["r%da@remote.example" % i, "r%db@remote.example" % i]


class RelayTest(BulwarkTest):

    def conn_sink(self, **kw):
        s = ConnSink(**kw)
        self.addCleanup(s.close)
        return s

    def reuse_run(self, sink, n, **conf):
        """A daemon relaying to sink that keeps idle connections for a
        minute, given n messages by send_burst, each arriving once."""
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port,
                        smtp_connection_cache_time_limit="60s", **conf)
        self.send_burst(d, n)
        self.assert_each_once(d, sink, n)
        return d

    def send_burst(self, d, n):
        """n messages, each with recipients of its own; queue ids."""
        qids = []
        for i in range(n):
            code, text = d.send(simple(reuse_tid(i)), rcpts=reuse_rcpts(i))
            self.assertEqual(code, 250, text)
            qids.append(d.queue_id_from(text))
        return qids

    def assert_each_once(self, d, sink, n):
        """Every message of send_burst arrived, once, with its own
        recipients, and no recipient was deferred or bounced."""
        self.assertTrue(sink.wait_messages(n, 60),
                        "%d of %d messages arrived:\n%s"
                        % (len(sink.messages), n, d.log_tail()))
        self.settle(d)
        got = {}
        for m in sink.messages:
            tid = harness.header_value(m["data"], "x-test-id")
            got.setdefault(tid, []).append(m["rcpts"])
        want = {reuse_tid(i): [["<%s>" % a for a in reuse_rcpts(i)]]
                for i in range(n)}
        self.assertEqual(got, want)
        log = d.log().decode("utf-8", "replace")
        self.assertEqual(len(re.findall(r"relay=\[127\.0\.0\.1\]:\d+, "
                                        r"delay=\S+, dsn=2\.\d+\.\d+, "
                                        r"status=sent", log)), 2 * n, log)
        self.assertNotIn("status=deferred", log)
        self.assertNotIn("status=bounced", log)

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
        self.settle(d)
        self.assertEqual(len(sink.messages), 1)
        self.assertIn(b"X-Test-Id: retry", sink.messages[0]["data"])

    def test_retry_after_4xx_at_data(self):
        """The same with the 451 at the end of data."""
        sink = self.pysink(fail_first=2, fail_at="dot")
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        code, text = d.send(simple("retry-data"), rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(sink.wait_messages(1, 60))
        self.assertGreaterEqual(sink.attempts, 3)
        self.settle(d)
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
        # The server's own reply, as RFC 3464 wants an smtp diagnostic.
        self.assertRegex(bounce, rb"(?m)^Remote-MTA: dns; \[127\.0\.0\.1\]"
                                 rb"\r?$")
        self.assertRegex(bounce, rb"(?m)^Diagnostic-Code: smtp; 550 5\.1\.1 "
                                 rb"No such user here\r?$")
        self.assertEqual(harness.header_value(bounce, "Return-Path"), "<>")
        self.assertIn(b"to-bounce", bounce)

    def test_bounce_headers_part_has_no_body(self):
        """A message whose header section ends at a body line, with no
        empty line: the bounce's headers part stops there, so no body
        text goes back."""
        sink = self.pysink(fail_first=1000,
                           fail_code="550 5.1.1 No such user here")
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        msg = (b"Subject: no blank line\r\nX-Folded: a\r\n b\r\n"
               b"secret body text right after the fields\r\n"
               b"Not-A-Header-Either: it is body now\r\n")
        code, text = d.send(msg, rcpts=[REMOTE],
                            sender="someone@example.test")
        self.assertEqual(code, 250, text)
        mbox = d.maildir("someone")
        self.assertTrue(mbox.wait_count(1, 60), "no bounce arrived")
        _, bounce = mbox.messages()[0]
        part = bounce.split(b"text/rfc822-headers", 1)[1]
        self.assertIn(b"Subject: no blank line", part)
        self.assertIn(b"X-Folded: a\n b", harness.lf(part))
        self.assertNotIn(b"secret body", part)
        self.assertNotIn(b"Not-A-Header-Either", part)

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
        # Delivery time expired (RFC 3463), with the last attempt's error,
        # which was no server's reply.
        self.assertRegex(bounce, rb"(?m)^Status: 4\.4\.7\r?$")
        self.assertRegex(bounce, rb"(?m)^Diagnostic-Code: X-Bulwark; connect "
                                 rb"to ")
        self.assertNotIn(b"Remote-MTA", bounce)
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
        self.assertTrue(harness.wait_until(
            lambda: sink.attempts >= 1 and d.queue_empty(), 30, step=0.2),
            "the message never left the queue:\n%s" % d.mailq())
        # A bounce would have been queued before the message left the
        # queue, and would have gone to the relayhost too (it is
        # remote): only the one refused attempt reached it, and no
        # mailbox got anything.
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

        def listed():
            """The listing once the first attempt has failed."""
            r = d.cli(harness.MAILQ, ["-C", d.conf_path])
            out = r.stdout.decode("utf-8", "replace")
            if r.returncode == 0 and harness.mailq_deferred(out, qid) \
                    and REMOTE in out:
                return out
            return None
        out = harness.wait_until(listed, 20, step=0.5)
        self.assertTrue(out, "mailq never listed %s" % qid)
        self.assertRegex(out, r"(?m)^-Queue ID-")
        self.assertRegex(out, r"(?m)^%s\S*\s+\d+\s+\w{3} \w{3}\s+\d+ "
                              r"\d\d:\d\d:\d\d\s+sender@example\.org$"
                         % re.escape(qid))
        self.assertRegex(out, r"(?m)^ {41}%s$" % re.escape(REMOTE))
        self.assertRegex(out, r"(?m)^ *\(.+\)\n {41}%s$"
                         % re.escape(REMOTE))
        self.assertRegex(out, r"(?m)^-- \d+ Kbytes in 1 Request\.$")
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path, "-bp"])
        self.assertEqual(r.returncode, 0)
        self.assertIn(qid, r.stdout.decode())

    def test_mailq_recipient_states(self):
        """One message, four recipients: delivered locally, taken by the
        relayhost, refused for good (bounced), and deferred.  mailq lists
        only the deferred one, under its reason, in Postfix's columns."""
        sink = self.pysink(replies={"rcpt": rcpt_reply})
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        rcpts = ["someone@example.test", "ok@remote.example",
                 "hard@remote.example", "later@remote.example"]
        code, text = d.send(simple("states"), rcpts=rcpts,
                            sender="owner@example.test")
        self.assertEqual(code, 250, text)
        qid = d.queue_id_from(text)
        # The bounce for hard@ reaching the sender shows it was handled.
        self.assertTrue(d.maildir("owner").wait_count(1, 60),
                        d.log_tail())
        self.assertTrue(d.maildir("someone").wait_count(1, 30))
        self.assertTrue(harness.wait_until(
            lambda: ["<ok@remote.example>"] in
            [m["rcpts"] for m in sink.messages], 30))

        def listed():
            out = d.cli(harness.MAILQ, ["-C", d.conf_path]).stdout.decode(
                "utf-8", "replace")
            return out if "later@remote.example" in out else None
        out = harness.wait_until(listed, 30, step=0.5)
        self.assertTrue(out, "mailq never listed the deferred recipient")
        self.assertRegex(out, r"(?m)^%s[ *] " % re.escape(qid))
        under = mailq_columns(self, out, {
            "later@remote.example": r"451|4\.2\.0|[Mm]ailbox busy"})
        self.assertEqual(sorted(under), ["later@remote.example"], out)
        for gone in ("someone@", "ok@", "hard@"):
            self.assertNotIn(gone, out)
        self.assertRegex(out, r"(?m)^-- \d+ Kbytes in 1 Request\.$")

    def test_reuse_burst_shares_connections(self):
        """A burst of messages to the relayhost goes over the connections
        already open (never more than delivery_concurrency of them), each
        message once with its own recipients, each connection greeted
        with EHLO once."""
        n = 8
        sink = self.pysink()
        d = self.reuse_run(sink, n, delivery_concurrency="2")
        self.assertLess(sink.connections, n)
        self.assertLessEqual(sink.connections, 2)
        ehlos = [c for c in sink.commands if c.upper().startswith("EHLO")]
        self.assertEqual(len(ehlos), sink.connections)

    def test_reuse_server_closes_after_each_message(self):
        """A relayhost that closes every connection after the reply to
        the final dot defers nothing: a cached connection found closed,
        while idle or at the next MAIL, gives way to a new one.  With
        minimal_backoff at an hour, a deferral would keep a message from
        arriving within the wait."""
        n = 6
        sink = self.conn_sink(close_after_dot=True)
        d = self.reuse_run(sink, n, delivery_concurrency="1",
                           minimal_backoff="3600s", maximal_backoff="3600s")
        self.assertEqual(sink.connections, n)

    def reuse_refused(self, how):
        """A relayhost that ends a reused connection at its MAIL (how:
        "421" or "close"): each such message goes again, at once, over a
        new connection, and nothing is deferred."""
        n = 5
        sink = self.conn_sink(on_reuse=how)
        d = self.reuse_run(sink, n, delivery_concurrency="1",
                           minimal_backoff="3600s", maximal_backoff="3600s")
        # One at a time, each message after the first found the last
        # one's connection idle, lost it at MAIL, and opened a new one.
        self.assertEqual(sink.refused, n - 1)
        self.assertEqual(sink.connections, n)

    def test_reuse_421_at_mail_tries_a_new_connection(self):
        """421 to MAIL on a reused connection: a new connection."""
        self.reuse_refused("421")

    def test_reuse_close_at_mail_tries_a_new_connection(self):
        """The connection closed at MAIL on reuse: a new connection."""
        self.reuse_refused("close")

    def test_reuse_count_limit(self):
        """smtp_connection_reuse_count_limit = 2: two messages per
        connection, then QUIT and a new one."""
        n = 6
        sink = self.pysink()
        d = self.reuse_run(sink, n, delivery_concurrency="1",
                           smtp_connection_reuse_count_limit="2")
        self.assertEqual(sink.connections, n // 2)
        self.assertTrue(harness.wait_until(
            lambda: sink.commands.count("QUIT") == n // 2, 30),
            sink.commands)

    def test_idle_connection_quit_after_cache_time_limit(self):
        """An idle connection is closed with QUIT once
        smtp_connection_cache_time_limit (1s) has passed since its last
        message, not at once."""
        sink = self.conn_sink()
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port,
                        smtp_connection_cache_time_limit="1s")
        code, text = d.send(simple("idle-quit"), rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(sink.wait_messages(1, 60), d.log_tail())
        self.assertTrue(harness.wait_until(lambda: sink.quits() == 1, 30),
                        "no QUIT on the idle connection:\n%s" % d.log_tail())
        with sink.lock:
            stamped = list(sink.stamped)
        dot = [t for t, ln in stamped if ln == b".\r\n"]
        quit = [t for t, ln in stamped if ln.upper().startswith(b"QUIT")]
        self.assertEqual(len(dot), 1)
        # The timer cannot fire before its second; a little slack for
        # the sink's clock reading lines later than they were sent.
        self.assertGreaterEqual(quit[0] - dot[0], 0.9)
        self.assertEqual(sink.connections, 1)

    def test_stop_quits_idle_connection(self):
        """At stop, an idle cached connection is closed with QUIT (the
        cache time limit, an hour, is not what closes it)."""
        sink = self.conn_sink()
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port,
                        smtp_connection_cache_time_limit="1h")
        code, text = d.send(simple("stop-quit"), rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(sink.wait_messages(1, 60), d.log_tail())
        self.assertTrue(harness.wait_until(d.queue_empty, 30, step=0.2))
        self.assertEqual(sink.quits(), 0)
        self.assertEqual(d.stop(), 0)
        self.assertTrue(harness.wait_until(lambda: sink.quits() == 1, 30),
                        "no QUIT at stop:\n%s" % d.log_tail())

    def test_relayhost_change_quits_idle_connection(self):
        """After a reload that moves relayhost, mail goes to the new host
        and the idle connection to the old one is closed with QUIT."""
        old = self.conn_sink()
        new = self.conn_sink()
        d = self.daemon(relayhost="[127.0.0.1]:%d" % old.port,
                        smtp_connection_cache_time_limit="1h")
        code, text = d.send(simple("before-reload"), rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(old.wait_messages(1, 60), d.log_tail())
        self.assertTrue(harness.wait_until(d.queue_empty, 30, step=0.2))
        d.conf["relayhost"] = "[127.0.0.1]:%d" % new.port
        d.write_config()
        r = d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "reload"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        code, text = d.send(simple("after-reload"), rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(new.wait_messages(1, 60), d.log_tail())
        self.assertTrue(harness.wait_until(lambda: old.quits() == 1, 30),
                        "old relayhost's connection not closed:\n%s"
                        % d.log_tail())
        self.assertEqual(len(old.messages), 1)
        self.assertEqual(old.connections, 1)
