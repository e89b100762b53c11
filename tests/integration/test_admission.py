"""Admission in smtpd: sessions and connection rates per client address
and per client prefix, from real client sockets bound to 127.x
addresses.

A client over client_connection_limit, prefix_connection_limit,
client_connection_rate or prefix_connection_rate gets 421 4.7.0 before
any banner and is closed; a slot comes back when a session ends;
clients in mynetworks are not counted; a reload changes the limits for
new clients; and mail from other clients keeps arriving while a network
is full.
"""

import os
import smtplib
import socket
import unittest

import harness
from harness import BulwarkTest


def message(tag):
    return ("From: a@example.org\r\nMessage-ID: <admission.%s@client.test>"
            "\r\n\r\nadmission %s\r\n" % (tag, tag)).encode()


class AdmissionTest(BulwarkTest):

    def limited(self, **conf):
        conf.setdefault("client_connection_limit", "3")
        conf.setdefault("prefix_connection_limit", "5")
        conf.setdefault("ipv4_prefix_length", "24")
        return self.daemon(**conf)

    def connect(self, d, source):
        """A raw client from source; its first reply (code, lines)."""
        c = d.raw(source=source)
        self.clients.append(c)
        return c, c.banner

    def assert_greeted(self, d, source):
        c, (code, lines) = self.connect(d, source)
        self.assertEqual(code, 220, lines)
        return c

    def quit(self, c):
        """End a session as a client should, and wait for the 221."""
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def assert_refused(self, d, source, why):
        c, (code, lines) = self.connect(d, source)
        self.assertEqual(code, 421, lines)
        self.assertTrue(lines[-1].startswith("421 4.7.0 "), lines)
        self.assertIn(why, lines[-1])
        # Nothing more: the server has closed.
        data, closed = c.read_all(timeout=10)
        self.assertEqual((data, closed), (b"", True))

    def assert_arrived(self, box, tag, source):
        [(path, data)] = box.messages()
        ok = harness.delivered_intact(data, message(tag))[0]
        self.assertTrue(ok, data)
        self.assertIn(b"[%s]" % source.encode(), data)

    def setUp(self):
        super().setUp()
        self.clients = []
        self.addCleanup(self.close_all)

    def close_all(self):
        for c in self.clients:
            c.close()

    def test_per_address(self):
        d = self.limited()
        first = [self.assert_greeted(d, "127.0.5.1") for _ in range(3)]
        self.assert_refused(d, "127.0.5.1", "from your address")
        # Another address of the same /24 still has room.
        self.assert_greeted(d, "127.0.5.2")
        # A session ends: its address may connect again.
        self.quit(first[0])
        self.assertTrue(harness.wait_until(
            lambda: self.try_greeted(d, "127.0.5.1"), 20, step=0.1,
            what="a slot for 127.0.5.1 after QUIT"))

    def try_greeted(self, d, source):
        c, (code, _) = self.connect(d, source)
        return code == 220

    def test_per_prefix(self):
        d = self.limited()
        for _ in range(3):
            self.assert_greeted(d, "127.0.5.1")
        for _ in range(2):
            self.assert_greeted(d, "127.0.5.2")
        # A third address of 127.0.5.0/24, with no session of its own.
        self.assert_refused(d, "127.0.5.3", "from your network")
        # The next /24 is another network.
        self.assert_greeted(d, "127.0.6.1")
        # Mail from elsewhere arrives meanwhile, byte for byte.
        code, text = d.send(message("other"), source="127.0.7.1")
        self.assertEqual(code, 250, text)
        box = d.maildir()
        self.assertTrue(box.wait_count(1, 30))
        self.assert_arrived(box, "other", "127.0.7.1")

    def test_mynetworks_not_counted(self):
        """127.0.0.1 is the harness's mynetworks: no limit or rate."""
        d = self.limited(client_connection_limit="1",
                         prefix_connection_limit="1",
                         client_connection_rate="1",
                         prefix_connection_rate="1")
        for _ in range(6):
            self.assert_greeted(d, "127.0.0.1")
        # Its sessions take nothing from its /24 either.
        self.assert_greeted(d, "127.0.0.2")
        self.assert_refused(d, "127.0.0.2", "from your address")
        self.assert_refused(d, "127.0.0.3", "from your network")

    def test_local_submission_not_counted(self):
        """Sessions on public/submit (sendmail) have no address to
        count: with a limit of 1, three at once are all greeted."""
        d = self.limited(client_connection_limit="1",
                         prefix_connection_limit="1")
        path = os.path.join(d.spool, "public", "submit")
        socks = []
        try:
            for _ in range(3):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                socks.append(s)
                s.settimeout(30)
                s.connect(path)
                self.assertTrue(s.recv(512).startswith(b"220 "))
        finally:
            for s in socks:
                s.close()

    def test_prefix_length(self):
        """With ipv4_prefix_length = 16 the /24s of a /16 share a limit."""
        d = self.limited(ipv4_prefix_length="16",
                         prefix_connection_limit="2")
        self.assert_greeted(d, "127.9.1.1")
        self.assert_greeted(d, "127.9.2.1")
        self.assert_refused(d, "127.9.3.1", "from your network")
        self.assert_greeted(d, "127.10.1.1")

    def test_reload_changes_limits(self):
        d = self.limited()
        for _ in range(3):
            self.assert_greeted(d, "127.0.5.1")
        self.assert_refused(d, "127.0.5.1", "from your address")
        d.conf["client_connection_limit"] = "4"
        d.write_config()
        r = d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "reload"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The sessions from before the reload still count.
        self.assert_greeted(d, "127.0.5.1")
        self.assert_refused(d, "127.0.5.1", "from your address")

    def test_reserved_share(self):
        """Of 5 sessions, strangers may hold 3 (good_client_reserve =
        40); a client that delivered mail before takes a kept one."""
        d = self.limited(connection_limit="5", good_client_reserve="40")
        code, text = d.send(message("good"), source="127.0.9.1")
        self.assertEqual(code, 250, text)
        for i in range(1, 4):
            self.assert_greeted(d, "127.0.6.%d" % i)
        self.assert_refused(d, "127.0.6.4", "Too many connections")
        # The good name is the address's, not its network's.
        self.assert_refused(d, "127.0.9.2", "Too many connections")
        c = self.assert_greeted(d, "127.0.9.1")
        self.quit(c)
        code, text = d.send(message("again"), source="127.0.9.1")
        self.assertEqual(code, 250, text)
        box = d.maildir()
        self.assertTrue(box.wait_count(2, 30))
        got = b"".join(data for _, data in box.messages())
        self.assertIn(b"admission again", got)

    def try_send(self, d, source):
        try:
            return d.send(message("after"), source=source)[0] == 250
        except smtplib.SMTPConnectError as e:
            self.assertEqual(e.smtp_code, 421)
            return False

    def test_address_rate(self):
        """client_connection_rate 3: a fourth connection within the
        minute is refused though the first three have ended."""
        d = self.limited(client_connection_rate="3")
        for _ in range(3):
            self.quit(self.assert_greeted(d, "127.0.5.1"))
        self.assert_refused(d, "127.0.5.1", "rate limit reached for your "
                            "address")
        # Its neighbours have buckets of their own.
        self.assert_greeted(d, "127.0.5.2")

    def test_prefix_rate(self):
        d = self.limited(prefix_connection_rate="4")
        for i in range(1, 5):
            self.quit(self.assert_greeted(d, "127.0.8.%d" % i))
        self.assert_refused(d, "127.0.8.5", "rate limit reached for your "
                            "network")
        self.assert_greeted(d, "127.0.9.1")

    def test_refused_client_then_mail(self):
        """A refused address sends mail once a slot is free, and it
        arrives."""
        d = self.limited(client_connection_limit="1")
        c = self.assert_greeted(d, "127.0.5.1")
        self.assert_refused(d, "127.0.5.1", "from your address")
        self.quit(c)
        self.assertTrue(harness.wait_until(
            lambda: self.try_send(d, "127.0.5.1"), 20, step=0.2,
            what="mail from 127.0.5.1 after its QUIT"))
        box = d.maildir()
        self.assertTrue(box.wait_count(1, 30))
        self.assert_arrived(box, "after", "127.0.5.1")


if __name__ == "__main__":
    unittest.main()
