"""The sendmail command line: -t, arguments, -bs, -bv, -q, the maildrop."""

import grp
import os
import pwd
import signal
import stat
import unittest

import harness
from harness import BulwarkTest

def msg(tag, to="someone@example.test", extra=b""):
    return (b"To: %s\nSubject: %s\n%s\nbody of %s\n.leading dot\n"
            % (to.encode(), tag.encode(), extra, tag.encode()))


def maildrop_files(d):
    path = os.path.join(d.spool, "maildrop")
    return [n for n in os.listdir(path) if not n.startswith(".bad-")]


def maildrop_rcpts(d):
    """The rcpt lines of each maildrop file, in file-name order."""
    out = []
    for n in sorted(maildrop_files(d)):
        with open(os.path.join(d.spool, "maildrop", n), "rb") as f:
            head = f.read().split(b"\n\n", 1)[0]
        out.append([ln[6:-1].decode() for ln in head.split(b"\n")
                    if ln.startswith(b"rcpt <")])
    return out


class SendmailTest(BulwarkTest):

    def sendmail(self, d, args, data):
        return d.cli(harness.SENDMAIL, ["-C", d.conf_path] + args,
                     input=data)

    def test_recipients_from_headers(self):
        """sendmail -t -i: recipients from To:, the message delivered
        with the headers a local submission lacks added."""
        d = self.daemon()
        r = self.sendmail(d, ["-t", "-i"], msg("dash-t"))
        self.assertEqual(r.returncode, 0, r.stderr)
        mbox = d.maildir("someone")
        self.assertTrue(mbox.wait_count(1, 30), d.log_tail())
        _, data = mbox.messages()[0]
        for h in ("message-id", "date", "from"):
            self.assertIsNotNone(harness.header_value(data, h), h)
        self.assertIn(b"\n.leading dot\n", data)
        self.assertEqual(harness.header_value(data, "subject"), "dash-t")

    def test_recipient_arguments_and_sender(self):
        """Recipients as arguments; root may set the sender with -f."""
        d = self.daemon()
        r = self.sendmail(d, ["-i", "-f", "boss@example.org",
                              "someone@example.test", "other@example.test"],
                          msg("args"))
        self.assertEqual(r.returncode, 0, r.stderr)
        for who in ("someone", "other"):
            mbox = d.maildir(who)
            self.assertTrue(mbox.wait_count(1, 30), who)
            _, data = mbox.messages()[0]
            self.assertEqual(harness.header_value(data, "return-path"),
                             "<boss@example.org>")

    def test_smtp_on_stdin(self):
        """sendmail -bs speaks SMTP on stdin and stdout."""
        d = self.daemon()
        script = (b"EHLO me\r\nMAIL FROM:<x@example.org>\r\n"
                  b"RCPT TO:<someone@example.test>\r\nDATA\r\n"
                  b"Subject: bs\r\n\r\nvia -bs\r\n.\r\nQUIT\r\n")
        r = self.sendmail(d, ["-bs"], script)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"\r\n250 ", r.stdout)
        self.assertTrue(d.maildir().wait_count(1, 30))

    def test_maildrop_while_down(self):
        """With the daemon down sendmail keeps the message in the
        maildrop and exits 0; the daemon takes it in when it starts."""
        d = self.daemon()
        d.stop()
        r = self.sendmail(d, ["-t", "-i"], msg("dropped"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(d.maildir().count(), 0)
        d.start()
        self.assertTrue(d.maildir().wait_count(1, 30), d.log_tail())
        _, data = d.maildir().messages()[0]
        self.assertEqual(harness.header_value(data, "subject"), "dropped")

    def test_mailq_empty(self):
        d = self.daemon()
        r = d.cli(harness.MAILQ, ["-C", d.conf_path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"Mail queue is empty", r.stdout)

    def test_smtp_on_stdin_lf_only(self):
        """-bs with the LF line ends scripts write: each bare LF goes up
        as CRLF, so the lone dot ends the data and the message arrives."""
        d = self.daemon()
        script = (b"EHLO me\nMAIL FROM:<x@example.org>\n"
                  b"RCPT TO:<someone@example.test>\nDATA\n"
                  b"Subject: bs-lf\n\nvia -bs\r\n.\nQUIT\n")
        r = self.sendmail(d, ["-bs"], script)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"\r\n250 2.0.0 Ok: queued as ", r.stdout)
        self.assertTrue(d.maildir().wait_count(1, 30), d.log_tail())
        _, data = d.maildir().messages()[0]
        self.assertEqual(harness.header_value(data, "subject"), "bs-lf")
        self.assertTrue(data.endswith(b"\n\nvia -bs\n"), data)

    def test_smtp_on_stdin_cut_short(self):
        """-bs input that ends inside a transaction (in the data, or
        after MAIL with no QUIT) exits EX_DATAERR; input that ends after
        the final dot, without QUIT, exits 0."""
        d = self.daemon()
        head = (b"EHLO me\nMAIL FROM:<x@example.org>\n"
                b"RCPT TO:<someone@example.test>\n")
        for name, script in (
                ("in the data", head + b"DATA\nSubject: cut\n\nno end\n"),
                ("open transaction", head),
                ("after RSET, cut in MAIL", b"RSET\r\n" + head)):
            with self.subTest(name):
                r = self.sendmail(d, ["-bs"], script)
                self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
        r = self.sendmail(d, ["-bs"], head + b"DATA\n\nwhole\n.\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.sendmail(d, ["-bs"], head + b"QUIT\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(d.maildir().wait_count(1, 30), d.log_tail())
        self.settle(d)
        self.assertEqual(d.maildir().count(), 1)

    def test_resent_recipients(self):
        """-t with Resent-To:/Resent-Cc:/Resent-Bcc: sends to those and
        not to To:/Cc:/Bcc:, and Resent-Bcc: leaves the message."""
        d = self.daemon()
        m = (b"To: someone@example.test\nCc: other@example.test\n"
             b"Subject: resent\nResent-To: third@example.test\n"
             b"Resent-Cc: fourth@example.test\n"
             b"Resent-Bcc: hidden@example.test\n\nbody\n")
        r = self.sendmail(d, ["-t", "-i"], m)
        self.assertEqual(r.returncode, 0, r.stderr)
        for who in ("third", "fourth", "hidden"):
            self.assertTrue(d.maildir(who).wait_count(1, 30), who)
            _, data = d.maildir(who).messages()[0]
            self.assertEqual(harness.header_value(data, "resent-to"),
                             "third@example.test")
            self.assertIsNone(harness.header_value(data, "resent-bcc"))
            self.assertEqual(harness.header_value(data, "to"),
                             "someone@example.test")
        self.settle(d)
        for who in ("someone", "other"):
            self.assertEqual(d.maildir(who).count(), 0, who)

    def test_verify(self):
        """-bv asks the daemon about each address (MAIL, RCPT, RSET),
        prints the verdict with the reply and sends nothing (no DATA);
        the exit code is 0, EX_NOUSER (67) for a refusal, 69 with no
        daemon."""
        d = self.daemon()
        r = self.sendmail(d, ["-bv", "someone@example.test"], b"")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, rb"(?m)^someone@example\.test\.\.\. "
                                   rb"deliverable: 250 2\.1\.5 ")
        r = self.sendmail(d, ["-bv", "someone@example.test",
                              "Bad!User@example.test",
                              "user@remote.example"], b"")
        self.assertEqual(r.returncode, 67, r.stdout + r.stderr)
        out = r.stdout.decode()
        self.assertRegex(out, r"(?m)^someone@example\.test\.\.\. "
                              r"deliverable: 250 ")
        self.assertRegex(out, r"(?m)^Bad!User@example\.test\.\.\. "
                              r"undeliverable: 550 5\.1\.1 ")
        self.assertRegex(out, r"(?m)^user@remote\.example\.\.\. "
                              r"undeliverable: 550 5\.4\.4 ")
        r = self.sendmail(d, ["-bv", "a b@example.test"], b"")
        self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
        self.assertIn(b"bad address", r.stdout)
        d.stop()
        r = self.sendmail(d, ["-bv", "someone@example.test"], b"")
        self.assertEqual(r.returncode, 69, r.stdout + r.stderr)
        # What -bv says to the daemon, in full: no DATA.
        fake = self.fake_submit(d)
        r = self.sendmail(d, ["-bv", "someone@example.test",
                              "other@example.test"], b"")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        fake.close()
        self.assertEqual(len(fake.commands), 6, fake.commands)
        self.assertRegex(fake.commands[1], r"^MAIL FROM:<[^<>]+@[^<>]+>$")
        self.assertEqual(fake.commands[:1] + fake.commands[2:],
                         ["EHLO localhost",
                          "RCPT TO:<someone@example.test>",
                          "RCPT TO:<other@example.test>", "RSET", "QUIT"])

    def test_queue_run(self):
        """-q makes the daemon retry deferred mail now, as bulwarkctl
        flush does; 69 with no daemon, 77 for a user other than root."""
        sink = self.pysink(fail_first=1)
        d = self.daemon(relayhost="[127.0.0.1]:%d" % sink.port,
                        minimal_backoff="3600s", maximal_backoff="3600s")
        code, text = d.send(b"Subject: flush me\r\n\r\nbody\r\n",
                            rcpts=["user@remote.example"])
        self.assertEqual(code, 250, text)

        def deferred():
            out = d.cli(harness.MAILQ, ["-C", d.conf_path]).stdout
            return sink.attempts >= 1 and b"451" in out
        self.assertTrue(harness.wait_until(deferred, 30), d.log_tail())
        r = self.sendmail(d, ["-q"], b"")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(b"ok: flush requested", r.stdout)
        self.assertTrue(sink.wait_messages(1, 30), d.log_tail())
        if self.as_user_possible():
            r = harness.user_cli(d, harness.SENDMAIL, ["-q"])
            self.assertEqual(r.returncode, 77, r.stdout + r.stderr)
        d.stop()
        r = self.sendmail(d, ["-q"], b"")
        self.assertEqual(r.returncode, 69, r.stdout + r.stderr)

    def test_maildrop_mode(self):
        """The master makes the maildrop mail_owner:bulwarkdrop 1770:
        the group needs read permission to open it for fsync."""
        d = self.daemon()
        st = os.stat(os.path.join(d.spool, "maildrop"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o1770)
        if harness.IS_ROOT:
            self.assertEqual(st.st_uid, pwd.getpwnam("bulwark").pw_uid)
            try:
                gid = grp.getgrnam(harness.DROP_GROUP).gr_gid
            except KeyError:
                self.require("no group %s" % harness.DROP_GROUP)
            self.assertEqual(st.st_gid, gid)

    def test_maildrop_user_submission(self):
        """A user's sendmail (set-gid bulwarkdrop) with the daemon down
        leaves a synced file that the daemon picks up; where the
        directory cannot be synced, it removes its file and exits 75."""
        self.require(harness.as_user_ok())
        d = self.daemon()
        d.stop()
        r = harness.user_cli(d, harness.SENDMAIL, ["-t", "-i"],
                             msg("by-user"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        files = maildrop_files(d)
        self.assertEqual(len(files), 1, files)
        st = os.stat(os.path.join(d.spool, "maildrop", files[0]))
        self.assertEqual(st.st_uid, pwd.getpwnam("nobody").pw_uid)
        d.start()
        self.assertTrue(d.maildir().wait_count(1, 30), d.log_tail())
        _, data = d.maildir().messages()[0]
        self.assertEqual(harness.header_value(data, "subject"), "by-user")
        self.assertRegex(harness.header_value(data, "return-path"),
                         r"^<nobody@")
        d.stop()
        # A maildrop the group cannot open (the old mode 1730): the
        # rename cannot be made durable, so the file must not stay.
        os.chmod(os.path.join(d.spool, "maildrop"), 0o1730)
        r = harness.user_cli(d, harness.SENDMAIL, ["-t", "-i"],
                             msg("not-synced"))
        self.assertEqual(r.returncode, 75, r.stdout + r.stderr)
        self.assertEqual(maildrop_files(d), [])

    def fake_submit(self, d, **replies):
        """A stand-in for the daemon on <spool>/public/submit (a PySink
        with scripted replies), so that sendmail meets a 4xx or a cut
        where the real daemon gives none on demand."""
        for sub in ("public", "maildrop"):
            os.makedirs(os.path.join(d.spool, sub), exist_ok=True)
        os.chmod(os.path.join(d.spool, "maildrop"), 0o1770)
        path = os.path.join(d.spool, "public", "submit")
        if os.path.exists(path):
            os.unlink(path)	# left by a daemon that stopped
        return self.pysink(unix_path=path, replies=replies)

    def test_tempfail_keeps_message(self):
        """A 4xx at MAIL (here the policy service is stopped), at RCPT
        for every recipient, at DATA or at the final dot: the daemon
        took nothing, so the message goes to the maildrop (exit 0) and
        arrives once the daemon picks it up."""
        d = self.daemon(policy_timeout="1s")
        stopped = [d.children()["policy"]]

        def resume():
            while stopped:
                os.kill(stopped.pop(), signal.SIGCONT)
        os.kill(stopped[0], signal.SIGSTOP)
        self.addCleanup(resume)
        r = self.sendmail(d, ["-i", "someone@example.test"],
                          msg("policy-stopped"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(d.maildir().wait_count(1, 30), d.log_tail())
        resume()
        d.stop()
        stages = (
            ("mail", {"mail": "451 4.3.0 x"}),
            ("rcpt", {"rcpt": lambda a: "451 4.3.0 Try again later"}),
            ("data", {"data": "452 4.3.1 Insufficient storage"}),
            ("dot", {"dot": "451 4.3.0 Not now"}))
        for stage, replies in stages:
            with self.subTest(stage):
                fake = self.fake_submit(d, **replies)
                r = self.sendmail(d, ["-i", "someone@example.test",
                                      "other@example.test"],
                                  msg("at-" + stage))
                fake.close()
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("QUIT", fake.commands)
                self.assertEqual(
                    maildrop_rcpts(d)[-1:],
                    [["someone@example.test", "other@example.test"]])
        d.start()
        want = ["at-data", "at-dot", "at-mail", "at-rcpt"]
        for who, extra in (("someone", ["policy-stopped"]), ("other", [])):
            mbox = d.maildir(who)
            self.assertTrue(mbox.wait_count(len(want + extra), 30),
                            (who, d.log_tail()))
            subjects = sorted(harness.header_value(m, "subject")
                              for _, m in mbox.messages())
            self.assertEqual(subjects, sorted(want + extra), who)

    def test_lost_after_dot_not_doubled(self):
        """A connection lost after the final dot is ambiguous (the
        daemon may have queued the message): exit 75, no maildrop copy.
        A lost connection before it falls back to the maildrop."""
        d = self.daemon(start=False)
        fake = self.fake_submit(d, dot=None)
        r = self.sendmail(d, ["-i", "someone@example.test"], msg("cut"))
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertEqual(maildrop_files(d), [])
        fake.close()
        fake = self.fake_submit(d, data="421 4.3.2 Shutting down")
        r = self.sendmail(d, ["-i", "someone@example.test"], msg("421"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(maildrop_rcpts(d), [["someone@example.test"]])

    def test_some_recipients_refused(self):
        """Recipients the daemon refuses for good are named on stderr
        with the reply and the exit is EX_NOUSER (67), but the others
        get the message; with every recipient refused nothing is sent."""
        d = self.daemon()
        r = self.sendmail(d, ['"a b"@example.test', "someone@example.test"],
                          b"Subject: mixed\n\nhi\n")
        self.assertEqual(r.returncode, 67, r.stderr)
        self.assertRegex(r.stderr, rb'(?m)^sendmail: "a b"@example\.test: '
                                   rb'550 5\.1\.1 ')
        self.assertNotIn(b"someone", r.stderr)
        self.assertTrue(d.maildir().wait_count(1, 30), d.log_tail())
        _, data = d.maildir().messages()[0]
        self.assertEqual(harness.header_value(data, "subject"), "mixed")
        r = self.sendmail(d, ['"a b"@example.test', "user@remote.example"],
                          b"Subject: none\n\nhi\n")
        self.assertEqual(r.returncode, 67, r.stderr)
        self.assertIn(b"user@remote.example: 550 5.4.4 ", r.stderr)
        self.settle(d)
        self.assertEqual(d.maildir().count(), 1)
        self.assertEqual(maildrop_files(d), [])

    def test_refused_and_deferred_recipients(self):
        """A 5xx for one recipient and a 4xx for another: the refused
        one is reported (exit 67), the whole message goes to the
        maildrop for the rest, and no DATA is sent to the daemon."""
        d = self.daemon(start=False)

        def rcpt(addr):
            return {"gone@example.test": "550 5.1.1 No such user",
                    "later@example.test": "451 4.3.0 Try again"}.get(
                        addr, "250 2.1.5 Ok")
        fake = self.fake_submit(d, rcpt=rcpt)
        r = self.sendmail(d, ["-i", "someone@example.test",
                              "gone@example.test", "later@example.test"],
                          msg("split"))
        self.assertEqual(r.returncode, 67, r.stderr)
        self.assertIn(b"gone@example.test: 550 5.1.1 No such user",
                      r.stderr)
        self.assertNotIn(b"later@example.test", r.stderr)
        self.assertNotIn("DATA", fake.commands)
        self.assertEqual(maildrop_rcpts(d),
                         [["someone@example.test", "later@example.test"]])

    def test_compat_options(self):
        """Options other MTAs' sendmail takes are accepted and ignored,
        with their arguments; -I is -bi; -bd and -bt name what to use
        instead and exit EX_USAGE without reading the message."""
        d = self.daemon()
        opts = (["-V", "envid-1"], ["-n"], ["-h", "17"], ["-L", "tag"],
                ["-Am"], ["-Ac"], ["-U"], ["-G"], ["-O", "Timeout=5m"],
                ["-X", "/dev/null"], ["-h17", "-Lx", "-Vid", "-Ofoo=bar"])
        for i, opt in enumerate(opts):
            with self.subTest(opt=opt):
                r = self.sendmail(d, opt + ["-i", "someone@example.test"],
                                  msg("opt-%d" % i))
                self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(d.maildir().wait_count(len(opts), 30), d.log_tail())
        bi = self.sendmail(d, ["-bi"], b"")
        r = self.sendmail(d, ["-I"], b"")
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (bi.returncode, bi.stdout, bi.stderr))
        for mode, hint in (("-bd", b"run bulwarkd"),
                           ("-bt", b"sendmail -bv")):
            with self.subTest(mode):
                r = self.sendmail(d, [mode], msg("mode"))
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertIn(b"sendmail: " + mode.encode() + b": ",
                              r.stderr)
                self.assertIn(hint, r.stderr)
        r = self.sendmail(d, ["-Ax", "someone@example.test"], msg("bad"))
        self.assertEqual(r.returncode, 64, r.stderr)
        self.settle(d)
        self.assertEqual(d.maildir().count(), len(opts))


if __name__ == "__main__":
    unittest.main()
