"""The SMTP server, byte by byte: limits, grammar, endings of data."""

import csv
import os
import re

import harness
from harness import BulwarkTest

ENDINGS = [
    ("lf-dot-lf", b"\n.\n"),
    ("lf-dot-crlf", b"\n.\r\n"),
    ("crlf-dot-lf", b"\r\n.\n"),
    ("cr-dot-cr", b"\r.\r"),
    ("cr-dot-crlf", b"\r.\r\n"),
    ("crlf-dot-cr", b"\r\n.\r"),
    ("crlf-nul-dot-crlf", b"\r\n\0.\r\n"),
]

SMUGGLED = (b"MAIL FROM:<smuggler@example.org>\r\n"
            b"RCPT TO:<someone@example.test>\r\n"
            b"DATA\r\n"
            b"X-Test-Id: smuggled\r\n"
            b"Subject: smuggled message\r\n\r\nsmuggled body\r\n")

ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}( |$)")


def transaction(c, rcpt="someone@example.test", sender="sender@example.org"):
    """EHLO/MAIL/RCPT/DATA up to the 354 on a raw client."""
    code, _ = c.cmd("EHLO client.test")
    assert code == 250, code
    code, lines = c.cmd("MAIL FROM:<%s>" % sender)
    assert code == 250, lines
    code, lines = c.cmd("RCPT TO:<%s>" % rcpt)
    assert code == 250, lines
    code, lines = c.cmd("DATA")
    assert code == 354, lines


class SmtpTest(BulwarkTest):

    def test_ehlo_and_simple_commands(self):
        """EHLO lists the extensions; every other reply carries an
        enhanced status code; VRFY gets 252."""
        d = self.daemon(message_size_limit=123456)
        with d.raw() as c:
            self.assertEqual(c.banner[0], 220)
            code, lines = c.cmd("EHLO client.test")
            self.assertEqual(code, 250)
            kw = [ln[4:].split(" ")[0].upper() for ln in lines[1:]]
            for ext in ("PIPELINING", "SIZE", "8BITMIME",
                        "ENHANCEDSTATUSCODES"):
                self.assertIn(ext, kw)
            self.assertIn("SIZE 123456", [ln[4:] for ln in lines])
            for cmd, want in (("NOOP", 250), ("RSET", 250),
                              ("VRFY someone", 252), ("HELP", 214),
                              ("BOGUS", 500), ("QUIT", 221)):
                code, lines = c.cmd(cmd)
                if want == 214:
                    self.assertIn(code, (211, 214), cmd)
                else:
                    self.assertEqual(code, want, "%s: %s" % (cmd, lines))
                self.assertRegex(lines[-1][4:], ENHANCED,
                                 "%s: no enhanced status code" % cmd)

    def test_command_line_limit(self):
        """512 octets with CRLF is a valid line; 513 gets 500 5.5.2, and
        the session stays in sync."""
        d = self.daemon()
        with d.raw() as c:
            c.cmd("EHLO client.test")
            code, lines = c.cmd("NOOP " + "x" * 505)	# 512 with CRLF
            self.assertEqual(code, 250, lines)
            code, lines = c.cmd("NOOP " + "x" * 506)	# 513
            self.assertEqual((code, lines[-1][4:9]), (500, "5.5.2"), lines)
            code, lines = c.cmd("NOOP " + "y" * 5000)
            self.assertEqual((code, lines[-1][4:9]), (500, "5.5.2"), lines)
            code, lines = c.cmd("MAIL FROM:<" + "a" * 600 + "@example.org>")
            self.assertEqual((code, lines[-1][4:9]), (500, "5.5.2"), lines)
            # In sync: exactly one reply per line, and a full transaction
            # still works.
            self.assertEqual(c.cmd("NOOP")[0], 250)
            transaction(c)
            c.send(b"X-Test-Id: after-long\r\nSubject: x\r\n\r\nok\r\n.\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        got = d.maildir().wait_test_ids(["after-long"], 30)
        self.assertEqual(len(got.get("after-long", [])), 1)

    def test_address_grammar(self):
        """Quoted local parts, address literals and source routes are
        accepted; bad addresses get 501 5.1.3; unknown local parts
        550 5.1.1."""
        d = self.daemon()
        good_from = [
            '"john doe"@example.org',
            '"quoted\\"quote"@example.org',
            '"@"@example.org',
            'user@[192.0.2.1]',
            'user@[IPv6:2001:db8::1]',
            'user@[IPv6:2001:db8:0:0:0:0:0:1]',
            '@relay1.example,@relay2.example:user@example.org',
            'first.last+tag@sub.example.org',
            "!#$%&'*+-/=?^_`{|}~@example.org",
            "x" * 64 + "@example.org",
        ]
        bad_from = [
            'no-at-sign',
            'two@@example.org',
            '.dot-first@example.org',
            'dot-last.@example.org',
            'two..dots@example.org',
            'space in@example.org',
            'user@-example.org',
            'user@example..org',
            'user@[300.1.1.1]',
            'user@[IPv6:2001:db8::g]',
            'user@[192.0.2.1',
            '"unterminated@example.org',
            'user@',
            '@example.org',
            "x" * 65 + "@example.org",
            "u@" + ".".join(["a" * 63] * 4) + "x",	# domain > 255
        ]
        with d.raw() as c:
            c.cmd("EHLO client.test")
            for a in good_from:
                code, lines = c.cmd("MAIL FROM:<%s>" % a)
                with self.subTest(mail_from=a):
                    self.assertEqual(code, 250, lines)
                c.cmd("RSET")
            for a in bad_from:
                code, lines = c.cmd("MAIL FROM:<%s>" % a)
                with self.subTest(mail_from=a):
                    self.assertEqual((code, lines[-1][4:9]), (501, "5.1.3"),
                                     lines)
                c.cmd("RSET")
            self.assertEqual(c.cmd("MAIL FROM:<>")[0], 250)
            for a, want in (
                    ("someone@example.test", (250, "2.1.5")),
                    ("Some.One+tag@EXAMPLE.TEST", (250, "2.1.5")),
                    ("@relay.example:someone@example.test", (250, "2.1.5")),
                    ("a-b_c.d@localhost", (250, "2.1.5")),
                    ("no=such@example.test", (550, "5.1.1")),
                    ('"john doe"@example.test', (550, "5.1.1")),
                    ("UPPER%case@example.test", (550, "5.1.1")),
                    (".dot@example.test", (501, "5.1.3")),
                    ("someone@example..test", (501, "5.1.3"))):
                code, lines = c.cmd("RCPT TO:<%s>" % a)
                with self.subTest(rcpt_to=a):
                    self.assertEqual((code, lines[-1][4:9]), want, lines)
            self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_isemail_addresses(self):
        """Every address of ../shared/corpus/addresses.tsv that fits on a
        command line: MAIL FROM accepted when isemail calls it valid for
        RFC 5321, else 501 5.1.3."""
        path = harness.shared_corpus("addresses.tsv")
        if not path or not os.path.exists(path):
            self.skipTest("no shared corpus (BULWARK_SHARED_CORPUS: %r)"
                          % harness.SHARED_CORPUS)
        rows = []
        with open(path, encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f, delimiter="\t",
                                    quoting=csv.QUOTE_NONE):
                raw = unescape(r["address_bytes"])
                if not raw or any(b in raw for b in b"\r\n\0"):
                    continue
                rows.append((r["set"], r["id"], raw,
                             r["rfc5321_valid"] == "yes"))
        d = self.daemon()
        wrong = []
        with d.raw() as c:
            c.cmd("EHLO client.test")
            for s, i, addr, valid in rows:
                c.send(b"MAIL FROM:<" + addr + b">\r\n")
                code, lines = c.reply()
                ok = code == 250 if valid else \
                    (code, lines[-1][4:9]) == (501, "5.1.3")
                if not ok:
                    wrong.append("%s#%s %r: %s (want %s)" % (
                        s, i, addr, lines[-1],
                        "250" if valid else "501 5.1.3"))
                self.assertEqual(c.cmd("RSET")[0], 250, "out of sync")
        if wrong:
            self.fail("%d of %d isemail addresses answered wrongly:\n%s"
                      % (len(wrong), len(rows), "\n".join(wrong[:60])))

    def test_relay_rules(self):
        """Relaying: 127.0.0.2 is a stranger (554 5.7.1), 127.0.0.1 may
        relay when a relayhost is set; local mail is for anyone."""
        sink = self.pysink()
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port)
        with d.raw(source="127.0.0.2") as c:
            c.cmd("EHLO stranger.test")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
            code, lines = c.cmd("RCPT TO:<user@remote.example>")
            self.assertEqual((code, lines[-1][4:9]), (554, "5.7.1"), lines)
            code, lines = c.cmd("RCPT TO:<user@[192.0.2.9]>")
            self.assertEqual((code, lines[-1][4:9]), (554, "5.7.1"), lines)
            code, lines = c.cmd("RCPT TO:<someone@example.test>")
            self.assertEqual(code, 250, lines)
        with d.raw(source="127.0.0.1") as c:
            c.cmd("EHLO friend.test")
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
            code, lines = c.cmd("RCPT TO:<user@remote.example>")
            self.assertEqual(code, 250, lines)

    def test_no_relayhost_refuses_remote(self):
        """Without a relayhost, mail for other domains is refused at RCPT
        even from mynetworks, rather than queued with nowhere to go."""
        d = self.daemon()
        with d.raw() as c:
            c.cmd("EHLO friend.test")
            c.cmd("MAIL FROM:<a@example.org>")
            code, lines = c.cmd("RCPT TO:<user@remote.example>")
            self.assertTrue(500 <= code < 600, lines)
            self.assertRegex(lines[-1][4:], ENHANCED)

    def test_size_limit(self):
        """SIZE= over the limit gets 552 5.3.4 at MAIL; a message over the
        limit without SIZE= gets 552 5.3.4 at the end of data, and the
        session stays in sync."""
        d = self.daemon(message_size_limit=100000)
        with d.raw() as c:
            code, lines = c.cmd("EHLO client.test")
            self.assertIn("SIZE 100000", [ln[4:] for ln in lines])
            code, lines = c.cmd("MAIL FROM:<a@example.org> SIZE=200000")
            self.assertEqual((code, lines[-1][4:9]), (552, "5.3.4"), lines)
            code, lines = c.cmd("MAIL FROM:<a@example.org> SIZE=1000")
            self.assertEqual(code, 250, lines)
            c.cmd("RCPT TO:<someone@example.test>")
            self.assertEqual(c.cmd("DATA")[0], 354)
            line = b"y" * 998 + b"\r\n"
            c.send(b"X-Test-Id: too-big\r\n\r\n" + line * 150 + b".\r\n")
            code, lines = c.reply()
            self.assertEqual((code, lines[-1][4:9]), (552, "5.3.4"), lines)
            self.assertEqual(c.cmd("NOOP")[0], 250)
            transaction(c)
            c.send(b"X-Test-Id: small\r\n\r\nsmall\r\n.\r\n")
            self.assertEqual(c.reply()[0], 250)
        got = d.maildir().wait_test_ids(["small"], 30)
        self.assertIn("small", got)
        self.settle(d)
        self.assertNotIn("too-big", d.maildir().by_test_id())

    def test_recipient_limit(self):
        """150 recipients pass by default; past recipient_limit each
        further RCPT gets 452 4.5.3 and the message goes to the rest."""
        d = self.daemon()
        rcpts = ["r%d@example.test" % i for i in range(150)]
        code, text = d.send(b"Subject: many\r\n\r\nhi\r\n", rcpts=rcpts)
        self.assertEqual(code, 250, text)
        self.assertTrue(d.maildir("r149").wait_count(1, 60))
        d2 = self.daemon(recipient_limit=100)
        with d2.raw() as c:
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
            for i in range(100):
                self.assertEqual(c.cmd("RCPT TO:<r%d@example.test>" % i)[0],
                                 250)
            code, lines = c.cmd("RCPT TO:<r100@example.test>")
            self.assertEqual(code, 452)
            self.assertTrue(lines[-1][4:].startswith("4.5.3"), lines)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(b"Subject: capped\r\n\r\nhi\r\n.\r\n")
            self.assertEqual(c.reply()[0], 250)
        self.assertTrue(d2.maildir("r99").wait_count(1, 60))
        self.assertEqual(d2.maildir("r100").count(), 0)

    def test_duplicate_recipients(self):
        """A recipient given twice in one transaction (in our domain with
        any case) gets 250 each time and one copy; in another domain the
        local part's case tells recipients apart, the domain's does not.
        A repeat does not count toward recipient_limit."""
        sink = self.pysink()
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port,
                        recipient_limit=100)
        fill = ["f%d@remote.example" % i for i in range(96)]
        rcpts = (["dup@example.test", "dup@example.test",
                  "DUP@Example.Test", "User@remote.example",
                  "User@REMOTE.Example", "user@remote.example",
                  "other@example.test"] + fill +
                 ["dup@example.test", "Dup@EXAMPLE.test"])
        with d.raw() as c:
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
            for r in rcpts:
                code, lines = c.cmd("RCPT TO:<%s>" % r)
                self.assertEqual(code, 250, "%s: %s" % (r, lines))
            code, lines = c.cmd("RCPT TO:<more@example.test>")
            self.assertEqual(code, 452, lines)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(b"X-Test-Id: dup\r\nSubject: dup\r\n\r\nonce\r\n.\r\n")
            self.assertEqual(c.reply()[0], 250)
        self.assertTrue(sink.wait_messages(1, 30), d.log_tail())
        got = d.maildir("dup").wait_test_ids(["dup"], 30)
        self.assertTrue(d.maildir("other").wait_count(1, 30))
        self.settle(d)
        self.assertEqual(len(d.maildir("dup").by_test_id()["dup"]), 1, got)
        self.assertEqual(len(sink.messages), 1)
        self.assertEqual(sorted(sink.messages[0]["rcpts"]),
                         sorted(["<User@remote.example>",
                                 "<user@remote.example>"] +
                                ["<%s>" % f for f in fill]))

    def test_hop_limit(self):
        """hop_limit Received: headers pass; one more gets 554 5.4.6."""
        d = self.daemon(hop_limit=5)
        for n, want in ((5, 250), (6, 554)):
            rec = b"".join(b"Received: from h%d.example by h%d.example; "
                           b"Mon, 1 Jan 2024 00:00:00 +0000\r\n" % (i, i + 1)
                           for i in range(n))
            msg = b"X-Test-Id: hops-%d\r\n" % n + rec + \
                b"Subject: hops\r\n\r\nbody\r\n"
            code, text = d.send(msg)
            self.assertEqual(code, want, text)
            if want == 554:
                self.assertTrue(text.startswith("5.4.6"), text)
        got = d.maildir().wait_test_ids(["hops-5"], 30)
        self.assertEqual(len(got["hops-5"]), 1)
        self.assertNotIn("hops-6", got)

    def test_bare_lf_default_refused(self):
        """By default a bare LF in the content refuses the message at the
        end of data; the session stays in sync."""
        d = self.daemon()
        with d.raw() as c:
            transaction(c)
            c.send(b"X-Test-Id: bare-lf\r\nSubject: bare\n\nline one\n"
                   b"line two\r\n.\r\n")
            code, lines = c.reply()
            self.assertTrue(500 <= code < 600, lines)
            self.assertRegex(lines[-1][4:], ENHANCED)
            self.assertEqual(c.cmd("NOOP")[0], 250)
            transaction(c)
            c.send(b"X-Test-Id: clean\r\n\r\nclean\r\n.\r\n")
            self.assertEqual(c.reply()[0], 250)
        got = d.maildir().wait_test_ids(["clean"], 30)
        self.settle(d)
        self.assertNotIn("bare-lf", d.maildir().by_test_id())
        self.assertIn("clean", got)

    def test_bare_lf_normalize(self):
        """bare_lf = normalize keeps the message, bare LF as a line end."""
        d = self.daemon(bare_lf="normalize")
        with d.raw() as c:
            transaction(c)
            c.send(b"X-Test-Id: bare-lf-n\r\nSubject: bare\n\nline one\n"
                   b"line two\r\nline three\r\n.\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
        got = d.maildir().wait_test_ids(["bare-lf-n"], 30)
        self.assertEqual(len(got["bare-lf-n"]), 1)
        _, rest = harness.split_trace(harness.lf(got["bare-lf-n"][0]))
        self.assertEqual(rest, b"X-Test-Id: bare-lf-n\nSubject: bare\n\n"
                               b"line one\nline two\nline three\n")

    def test_local_bare_cr_is_text(self):
        """Through sendmail (public/submit), under the default bare_lf =
        reject, a CR inside a line is text: cron output with progress
        meters arrives as it was written.  A network client sending the
        same content is still refused."""
        d = self.daemon()
        meter = b"10% [=>]\r 50% [==>]\r100%\n"
        msg = (b"X-Test-Id: cron-meter\nSubject: cron\n\n"
               b"fetching\n" + meter + b"x\r.\ndone\n")
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path, "-i",
                                     "someone@example.test"], input=msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = d.maildir().wait_test_ids(["cron-meter"], 30)
        self.assertEqual(len(got.get("cron-meter", [])), 1, d.log_tail())
        _, rest = harness.split_trace(got["cron-meter"][0])
        self.assertTrue(rest.endswith(b"\n\nfetching\n" + meter +
                                      b"x\r.\ndone\n"), rest)
        with d.raw() as c:
            transaction(c)
            c.send(msg.replace(b"\n", b"\r\n") + b".\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 550, lines)
            self.assertTrue(lines[-1][4:].startswith("5.6.0"), lines)

    def _endings(self, d, mode):
        """Each bad ending, then more text, then a real CRLF.CRLF: one
        reply, at most one message, never the smuggled one."""
        accepted = []
        for name, ending in ENDINGS:
            tid = "%s-%s" % (mode, name)
            with d.raw() as c:
                transaction(c)
                c.send(b"X-Test-Id: " + tid.encode() + b"\r\n"
                       b"Subject: ending\r\n\r\nbefore the ending" +
                       ending + SMUGGLED + b"\r\n.\r\n")
                code, lines = c.reply()
                with self.subTest(mode=mode, ending=name):
                    self.assertTrue(code == 250 or 500 <= code < 600,
                                    lines)
                    # Exactly one reply: the next one answers NOOP.
                    extra = c.quiet(1.0)
                    self.assertEqual(extra, b"", "more than one reply")
                    self.assertEqual(c.cmd("NOOP")[0], 250)
                    self.assertEqual(c.cmd("QUIT")[0], 221)
                if code == 250:
                    accepted.append(tid)
        got = d.maildir().wait_test_ids(accepted, 30)
        self.settle(d)
        got = d.maildir().by_test_id()
        self.assertNotIn("smuggled", got, "a second message was queued")
        for name, _ in ENDINGS:
            tid = "%s-%s" % (mode, name)
            with self.subTest(mode=mode, ending=name, stage="delivery"):
                n = len(got.get(tid, []))
                self.assertEqual(n, 1 if tid in accepted else 0)
                if n:
                    self.assertIn(b"smuggled body", got[tid][0],
                                  "text after the bad ending was lost")
        return accepted

    def test_data_endings_default(self):
        """The seven endings that are not CRLF.CRLF, default settings."""
        self._endings(self.daemon(), "reject")

    def test_data_endings_normalize(self):
        """The same with bare_lf = normalize."""
        self._endings(self.daemon(bare_lf="normalize"), "normalize")

    def test_pipelining_in_helo_session(self):
        """A HELO client that sends ahead gets 554 5.5.0 and is closed."""
        d = self.daemon()
        with d.raw() as c:
            self.assertEqual(c.cmd("HELO client.test")[0], 250)
            c.send(b"MAIL FROM:<a@example.org>\r\n"
                   b"RCPT TO:<someone@example.test>\r\n")
            data, closed = c.read_all(15)
            self.assertRegex(data.decode("utf-8", "replace"),
                             r"(?m)^554[ -]5\.5\.0")
            self.assertTrue(closed, "session not closed: %r" % data)

    def test_pipelining_in_ehlo_session(self):
        """With EHLO, a pipelined transaction works."""
        d = self.daemon()
        with d.raw() as c:
            c.cmd("EHLO client.test")
            c.send(b"MAIL FROM:<a@example.org>\r\n"
                   b"RCPT TO:<someone@example.test>\r\n"
                   b"RCPT TO:<other@example.test>\r\nDATA\r\n")
            codes = [c.reply()[0] for _ in range(4)]
            self.assertEqual(codes, [250, 250, 250, 354])
            c.send(b"X-Test-Id: piped\r\n\r\npiped\r\n.\r\nQUIT\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply()[0], 221)
        for who in ("someone", "other"):
            got = d.maildir(who).wait_test_ids(["piped"], 30)
            self.assertEqual(len(got.get("piped", [])), 1, who)


def unescape(s):
    """The C escapes of addresses.tsv (\\\\, \\t, \\r, \\n, \\xNN)."""
    out = bytearray()
    b = s.encode("utf-8")
    i = 0
    while i < len(b):
        ch = b[i:i + 1]
        if ch == b"\\" and i + 1 < len(b):
            n = b[i + 1:i + 2]
            if n == b"x":
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
                continue
            out += {b"t": b"\t", b"r": b"\r", b"n": b"\n",
                    b"\\": b"\\"}.get(n, b"\\" + n)
            i += 2
            continue
        out += ch
        i += 1
    return bytes(out)
