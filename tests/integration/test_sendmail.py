"""The sendmail command line: -t, arguments, -bs, the maildrop."""

import os
import unittest

import harness
from harness import BulwarkTest


def msg(tag, to="someone@example.test", extra=b""):
    return (b"To: %s\nSubject: %s\n%s\nbody of %s\n.leading dot\n"
            % (to.encode(), tag.encode(), extra, tag.encode()))


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

    def test_unknown_recipient_fails(self):
        d = self.daemon()
        r = self.sendmail(d, ["-i", "No.Such User@example.test"],
                          msg("bad"))
        self.assertNotEqual(r.returncode, 0)

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


if __name__ == "__main__":
    unittest.main()
