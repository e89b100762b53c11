"""Aliases: newaliases compiles every entry, aliases to local mailboxes
deliver, and aliases that lead where Bulwark cannot deliver yet (another
domain, a command, a file, an :include: list) are refused at RCPT."""

import os
import re

import harness
from harness import BulwarkTest

SOURCE = """\
postmaster: someone
team: someone, other
fwd: friend@elsewhere.test
chain: fwd
mixed: someone, friend@elsewhere.test
pipe: |/bin/cat
qpipe: "|/bin/cat"
file: /tmp/archive
inc: :include:/etc/lists/staff
localaddr: other@example.test
"""


def message(tag):
    return (b"From: a@example.org\r\nSubject: %s\r\n"
            b"Message-ID: <%s@client.test>\r\n\r\nhello\r\n"
            % (tag.encode(), tag.encode()))


class AliasTest(BulwarkTest):

    def newaliases(self, d):
        prog = os.path.join(harness.BUILD, "newaliases")
        return d.cli(prog, ["-C", d.conf_path])

    def aliased_daemon(self):
        d = self.daemon(start=False)
        src = os.path.join(d.tmp, "aliases")
        with open(src, "w") as f:
            f.write(SOURCE)
        d.conf["alias_maps"] = "hash:" + src
        d.write_config()
        return d, src

    def test_newaliases_compiles_and_warns(self):
        """Pipes, files, :include: and remote targets are compiled with a
        warning each, and newaliases exits 0."""
        d, src = self.aliased_daemon()
        r = self.newaliases(d)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 0, err)
        self.assertTrue(os.path.exists(src + ".db"))
        for line, name in ((3, "fwd"), (5, "mixed"), (6, "pipe"),
                           (7, "qpipe"), (8, "file"), (9, "inc")):
            self.assertIn("%s:%d: warning: alias %s:" % (src, line, name),
                          err)
        self.assertEqual(err.count("warning:"), 6, err)
        # -bi is the same program.
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path, "-bi"])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_newaliases_without_alias_maps(self):
        """An empty alias_maps is a notice and exit 0, as package
        scripts that run newaliases expect."""
        d = self.daemon(start=False)
        self.assertEqual(d.conf["alias_maps"], "")
        r = self.newaliases(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path, "-bi"])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_newaliases_still_refuses_bad_lines(self):
        d, src = self.aliased_daemon()
        with open(src, "a") as f:
            f.write("broken line without colon\n")
        r = self.newaliases(d)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("%s:11:" % src, r.stderr.decode())
        self.assertFalse(os.path.exists(src + ".db"))

    def test_rcpt_refuses_aliases_that_lead_nowhere(self):
        """Aliases to other domains, commands, files and lists get 550
        5.3.0 at RCPT; aliases to local mailboxes are delivered."""
        d, src = self.aliased_daemon()
        r = self.newaliases(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        with d.raw() as c:
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
            for name, words in (("fwd", "remote address"),
                                ("chain", "remote address"),
                                ("mixed", "remote address"),
                                ("pipe", "command"),
                                ("qpipe", "command"),
                                ("file", "file"),
                                ("inc", ":include:")):
                code, lines = c.cmd("RCPT TO:<%s@example.test>" % name)
                text = " ".join(lines)
                self.assertEqual(code, 550, text)
                self.assertTrue(lines[-1].startswith(
                    "550 5.3.0 <%s@example.test>: alias leads to "
                    % name), text)
                self.assertIn(words, text)
                self.assertIn("not built yet", text)
            for name in ("team", "localaddr", "postmaster"):
                code, lines = c.cmd("RCPT TO:<%s@example.test>" % name)
                self.assertEqual(code, 250, lines)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(message("via-aliases") + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            c.cmd("QUIT")
        self.assertTrue(d.maildir("someone").wait_count(1, 30),
                        d.log_tail())
        self.assertTrue(d.maildir("other").wait_count(1, 30),
                        d.log_tail())


    def test_database_not_built_defers(self):
        """alias_maps names a table whose .db was never built: mail for
        an alias name waits (451 at RCPT, a deferral for mail that came
        through the maildrop) instead of landing in a mailbox named like
        the alias; once newaliases has run it reaches the alias's
        targets."""
        d, src = self.aliased_daemon()
        d.start()
        res = d.send(message("early"), rcpts=["team@example.test"])
        self.assertEqual(res[0], 451, res)
        # sendmail with the daemon down: the maildrop path skips RCPT.
        d.stop()
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path,
                                     "team@example.test"],
                  input=message("dropped"))
        self.assertEqual(r.returncode, 0, r.stderr)
        d.start()
        # Picked up and tried: deferred, in no mailbox.
        self.assertTrue(harness.wait_until(
            lambda: re.search(r"(?m)^ *\(.+\)\n {41}team@example\.test$",
                              d.mailq()), 30, step=0.2),
            "the maildrop message was not deferred:\n%s" % d.mailq())
        self.assertEqual(d.maildir("team").count(), 0)
        self.assertEqual(d.maildir("someone").count(), 0)
        r = self.newaliases(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
        self.assertTrue(d.maildir("someone").wait_count(1, 30),
                        "the deferred alias mail never arrived")
        self.assertTrue(d.maildir("other").wait_count(1, 30))
        self.assertEqual(d.maildir("team").count(), 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
