"""The process model: users, restarts, reload, clean stop, bulwarkctl."""

import os
import signal
import socket
import subprocess
import unittest

import harness
from harness import BulwarkTest

MSG = (b"From: a@example.org\r\nTo: someone@example.test\r\n"
       b"Subject: %s\r\nMessage-ID: <%s@client.test>\r\n\r\nhello\r\n")


def message(tag):
    return MSG % (tag.encode(), tag.encode())


class ProcessTest(BulwarkTest):

    @unittest.skipUnless(harness.IS_ROOT, "needs root")
    def test_children_run_as_mail_owner(self):
        """Started as root: smtpd, queue, policy and remote run as the
        bulwark user, local delivery stays root, the master is root."""
        d = self.daemon()
        kids = d.children()
        self.assertEqual(set(kids), set(harness.ROLES), kids)
        for role in ("smtpd", "queue", "policy", "remote"):
            self.assertEqual(harness.proc_user(kids[role]),
                             harness.MAIL_OWNER, role)
        self.assertEqual(harness.proc_user(kids["local"]), "root")
        self.assertEqual(harness.proc_user(d.pid), "root")

    @unittest.skipUnless(harness.IS_ROOT, "needs root")
    def test_smtpd_is_chrooted(self):
        d = self.daemon()
        pid = d.children()["smtpd"]
        root = os.readlink("/proc/%d/root" % pid)
        self.assertEqual(root, os.path.join(d.spool, "empty"))

    def test_child_restarted(self):
        """A child killed by a signal is started again and mail flows."""
        d = self.daemon()
        for role in ("smtpd", "policy", "remote", "local"):
            old = d.children()[role]
            os.kill(old, signal.SIGKILL)
            ok = harness.wait_until(
                lambda: d.children().get(role) not in (None, old), 30)
            self.assertTrue(ok, "%s not restarted:\n%s"
                            % (role, d.log_tail()))
        harness.wait_until(d.banner_ok, 20)
        code, text = d.send(message("after-restarts"))
        self.assertEqual(code, 250, text)
        self.assertTrue(d.maildir().wait_count(1, 30))

    def test_reload_good_and_bad(self):
        """A reload of a bad file is refused and keeps the old config,
        even the keys the bad file set right; a good one (by SIGHUP) is
        applied while an open session carries on."""
        d = self.daemon(message_size_limit=100000)
        c = d.raw()
        self.assertEqual(c.banner[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        # A bad file: a new limit, and an unknown key.
        d.conf["message_size_limit"] = "300000"
        d.write_config("no_such_key = 1\n")
        r = d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "reload"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertTrue(r.stderr.startswith(b"error: configuration "
                                            b"refused\n"), r.stderr)
        self.assertIn(b"no_such_key", r.stderr)
        self.assertTrue(d.running())
        with d.smtp() as s:
            code, lines = s.ehlo()
            self.assertIn(b"SIZE 100000", lines)
        # A good one: the new limit for new sessions.
        d.conf["message_size_limit"] = "200000"
        d.write_config()
        d.signal(signal.SIGHUP)

        def new_limit():
            with d.smtp() as s:
                return b"SIZE 200000" in s.ehlo()[1]
        self.assertTrue(harness.wait_until(new_limit, 10))
        # The session opened before the reloads still works.
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<someone@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(message("old-session") + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        c.cmd("QUIT")
        c.close()
        self.assertTrue(d.maildir().wait_count(1, 30))

    def test_reload_moves_listener(self):
        """A reload that changes inet_interfaces opens the new address
        and stops accepting on the old one."""
        d = self.daemon()
        old = d.port
        new = harness.free_port()
        d.conf["inet_interfaces"] = "127.0.0.1:%d" % new
        d.write_config()
        d.signal(signal.SIGHUP)

        def greets(port):
            try:
                with socket.create_connection(("127.0.0.1", port),
                                              timeout=5) as s:
                    s.settimeout(5)
                    return s.recv(3) == b"220"
            except OSError:
                return False
        self.assertTrue(harness.wait_until(lambda: greets(new), 10),
                        d.log_tail())
        self.assertTrue(harness.wait_until(lambda: not greets(old), 10),
                        "still accepting on the old port")
        d.port = new
        code, text = d.send(message("moved"))
        self.assertEqual(code, 250, text)

    def test_sigterm_stops_cleanly(self):
        """SIGTERM: an idle session gets 421, the master exits 0, and
        what was acknowledged is delivered after the next start."""
        d = self.daemon()
        code, text = d.send(message("before-stop"))
        self.assertEqual(code, 250)
        c = d.raw()
        self.assertEqual(c.banner[0], 220)
        d.signal(signal.SIGTERM)
        code, _ = c.reply()
        self.assertEqual(code, 421)
        c.close()
        self.assertEqual(d.wait_exit(40), 0, d.log_tail())
        self.assertEqual(d.leftovers(), [])
        d.start()
        self.assertTrue(d.maildir().wait_count(1, 30))

    def test_bulwarkctl_status(self):
        """status lists every process with pid and user, and the queue."""
        d = self.daemon()
        r = d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "status"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        kids = d.children()
        for role, pid in kids.items():
            self.assertRegex(out, r"(?m)^%s\s+%d\s+\S+" % (role, pid))
        self.assertRegex(out, r"(?m)^master\s+%d\s+" % d.pid)
        self.assertRegex(out, r"messages\D+\d+")

    def test_bulwarkctl_daemon_down(self):
        d = self.daemon(start=False)
        r = d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "status"])
        self.assertEqual(r.returncode, 69, r.stdout + r.stderr)

    def test_second_instance_refused(self):
        """A second master on the same spool says that the first holds
        the lock, and leaves its sockets alone."""
        d = self.daemon()
        p = subprocess.run([harness.BULWARKD, "-d", "-C", d.conf_path],
                           capture_output=True, timeout=30, env=d.env())
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, rb"another bulwarkd \(pid %d\) is "
                                   rb"running on .*master\.pid is locked"
                         % d.pid)
        self.assertTrue(d.running())
        r = d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "status"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(d.banner_ok(), "the first instance stopped "
                        "greeting")

    def test_bad_config_refused_at_start(self):
        d = self.daemon(start=False)
        d.write_config("recipient_limit = 5\nbogus_key = x\n")
        p = subprocess.run([harness.BULWARKD, "-d", "-C", d.conf_path],
                           capture_output=True, timeout=30, env=d.env())
        self.assertNotEqual(p.returncode, 0)
        err = p.stderr.decode()
        self.assertIn("bulwark.conf:", err)
        self.assertIn("bogus_key", err)


if __name__ == "__main__":
    unittest.main()
