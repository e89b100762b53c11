"""Configuration checks at start and at reload, and what reload reports:
every child must accept a pushed configuration before bulwarkctl hears
"ok", and the values children check are refused by the master first."""

import os
import re
import signal
import subprocess
import unittest

import harness
from harness import BulwarkTest


def conf_line(d, key):
    """The line number of key in the daemon's config file."""
    with open(d.conf_path) as f:
        for n, line in enumerate(f, 1):
            if re.match(r"%s\s*=" % re.escape(key), line):
                return n
    raise AssertionError("%s not in %s" % (key, d.conf_path))


class ConfigTest(BulwarkTest):

    def reload(self, d):
        return d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "reload"])

    def check_only(self, d):
        return subprocess.run([harness.BULWARKD, "-n", "-C", d.conf_path],
                              capture_output=True, timeout=30, env=d.env())

    def test_bad_alias_maps_refused_at_start_and_reload(self):
        """alias_maps values the policy process would refuse are refused
        by the master, with file:line, at start and at reload."""
        d = self.daemon()
        for value in ("foo:bar", "/etc/aliases", "hash:relative"):
            d.conf["alias_maps"] = value
            d.write_config()
            where = "%s:%d: alias_maps" % (d.conf_path,
                                          conf_line(d, "alias_maps"))
            p = self.check_only(d)
            self.assertNotEqual(p.returncode, 0, value)
            self.assertIn(where, p.stderr.decode(), value)
            r = self.reload(d)
            self.assertEqual(r.returncode, 1, value)
            out = (r.stdout + r.stderr).decode()
            self.assertTrue(out.startswith("error: configuration refused"),
                            out)
            self.assertIn(where, out)
        self.assertTrue(d.running())
        code, text = d.send(b"Subject: still up\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)

    def test_checks_after_parsing_name_the_line(self):
        """relayhost, mynetworks and the access table: errors carry the
        line of their key."""
        d = self.daemon(start=False)
        access = os.path.join(d.tmp, "access")
        with open(access, "w") as f:
            f.write("192.0.2.0/24 REJECT\n10.0.0.0/8 BOGUS\n")
        base = dict(d.conf)
        for key, value, words in (
                ("relayhost", "mail.example.org", "address literal"),
                ("mynetworks", "10.0.0.1/33", "10.0.0.1/33"),
                ("smtpd_client_access", "cidr:" + access, "BOGUS")):
            d.conf = dict(base)
            d.conf[key] = value
            d.write_config()
            p = self.check_only(d)
            self.assertNotEqual(p.returncode, 0, key)
            err = p.stderr.decode()
            self.assertIn("%s:%d: %s" % (d.conf_path, conf_line(d, key),
                                         key), err)
            self.assertIn(words, err)

    def test_bad_domain_refused(self):
        d = self.daemon(start=False)
        d.conf["mydestination"] = "localhost, bad..domain"
        d.write_config()
        p = self.check_only(d)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s:%d: mydestination" % (
            d.conf_path, conf_line(d, "mydestination")), p.stderr.decode())
        self.assertIn("bad..domain", p.stderr.decode())

    @unittest.skipUnless(harness.IS_ROOT, "needs root")
    def test_reload_reports_a_child_refusal(self):
        """An alias database that root can read but mail_owner cannot:
        the master's checks pass, the policy process refuses it, and the
        reload says so instead of "ok"."""
        d = self.daemon()
        src = os.path.join(d.tmp, "aliases")
        with open(src, "w") as f:
            f.write("postmaster: someone\n")
        d.conf["alias_maps"] = "hash:" + src
        d.write_config()
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path, "-bi"])
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(src + ".db", 0o600)
        r = self.reload(d)
        out = (r.stdout + r.stderr).decode()
        self.assertEqual(r.returncode, 1, out)
        self.assertTrue(out.startswith("error: policy: "), out)
        self.assertIn("aliases.db", out)

        # Readable again: every child accepts, and reload says so.
        os.chmod(src + ".db", 0o644)
        r = self.reload(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().strip(),
                         "ok: configuration applied")

    def test_reload_ok_and_sighup(self):
        """A good reload is acknowledged by every child; SIGHUP still
        applies a new file, and the daemon keeps serving."""
        d = self.daemon()
        r = self.reload(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().strip(),
                         "ok: configuration applied")
        d.conf["message_size_limit"] = "123456"
        d.write_config()
        d.signal(signal.SIGHUP)

        def applied():
            with d.smtp() as s:
                return b"SIZE 123456" in s.ehlo()[1]
        self.assertTrue(harness.wait_until(applied, 10),
                        "SIGHUP did not apply the new file")
        r = self.reload(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        code, text = d.send(b"Subject: after reloads\r\n\r\nbody\r\n")
        self.assertEqual(code, 250, text)

    def bouncing_daemon(self):
        """Relayed mail bounces; myhostname is not a local domain, and
        myorigin (localhost) is."""
        sink = self.pysink(fail_first=1000,
                           fail_code="550 5.1.1 No such user here")
        return self.daemon(relayhost="[127.0.0.1]:%d" % sink.port,
                           myhostname="mx.test", myorigin="localhost")

    def assertBounceIn(self, d, login):
        box = d.maildir(login)
        self.assertTrue(box.wait_count(1, 60), d.log_tail())
        _, got = box.messages()[0]
        self.assertIn(b"Return-Path: <>", got)
        self.assertIn(b"multipart/report", got)
        self.assertIn(b"user@remote.example", got)

    def test_myorigin_bounce_reaches_root(self):
        """sendmail gives a local submitter <login>@myorigin, so the
        bounce of its relayed mail comes back to a local mailbox."""
        d = self.bouncing_daemon()
        r = d.cli(harness.SENDMAIL, ["-C", d.conf_path,
                                     "user@remote.example"],
                  input=b"Subject: will bounce\n\nbody\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertBounceIn(d, "root")

    def test_myorigin_bounce_reaches_a_user(self):
        """The same for a user who is not trusted: the sender the policy
        process sets is <login>@myorigin too."""
        self.require(harness.as_user_ok())
        d = self.bouncing_daemon()
        r = harness.user_cli(d, harness.SENDMAIL, ["user@remote.example"],
                     b"Subject: will bounce\n\nbody\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertBounceIn(d, "nobody")


if __name__ == "__main__":
    unittest.main()
