"""Input that is plainly not SMTP ends the session at once.

A web request, a proxy probe, a TLS hello on the plain port or binary
bytes get one 521 line and the connection is closed, whatever comes
later; a real client from the same address still sends mail.
"""

import socket
import unittest

import harness
from harness import BulwarkTest


PROBES = (
    b"GET / HTTP/1.1\r\nHost: mx.example.test\r\n\r\n",
    b"CONNECT 192.0.2.1:25 HTTP/1.0\r\n\r\n",
    # The start of a TLS ClientHello: a handshake record, no line end.
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),
    b"\x00\x01\x02\xff\xfe",
)


class ForeignInputTest(BulwarkTest):

    def probe(self, d, source, data, after_ehlo=False):
        """What the server sends back after the banner (and EHLO), up
        to its close."""
        with d.raw(source=source) as c:
            self.assertEqual(c.banner[0], 220)
            if after_ehlo:
                self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            c.send(data)
            reply, closed = c.read_all(timeout=15)
        self.assertTrue(closed, "the server kept the connection open")
        return reply

    def test_probes_cut_off(self):
        d = self.daemon()
        for i, data in enumerate(PROBES):
            reply = self.probe(d, "127.0.5.%d" % (i + 1), data)
            self.assertTrue(reply.startswith(b"521 5.5.1 "), (data, reply))
            self.assertEqual(reply.count(b"\r\n"), 1, (data, reply))
        # Later in a session too.
        reply = self.probe(d, "127.0.6.1", PROBES[0], after_ehlo=True)
        self.assertTrue(reply.startswith(b"521 5.5.1 "), reply)
        self.assertTrue(d.queue_empty())
        # A real client from a probing address gets its mail through.
        msg = (b"From: a@example.org\r\nMessage-ID: <foreign@client.test>"
               b"\r\n\r\nafter the probes\r\n")
        code, text = d.send(msg, source="127.0.5.1")
        self.assertEqual(code, 250, text)
        box = d.maildir()
        self.assertTrue(box.wait_count(1, 30))
        [(path, data)] = box.messages()
        self.assertTrue(harness.delivered_intact(data, msg)[0], data)

    def test_local_submission_exempt(self):
        """sendmail -bs passes a script's input through: a line that is
        not a command gets the parser's 500, not the cut-off."""
        d = self.daemon()
        path = "%s/public/submit" % d.spool
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect(path)
            self.assertTrue(s.recv(512).startswith(b"220 "))
            s.sendall(b"GET / HTTP/1.1\r\n")
            self.assertTrue(s.recv(512).startswith(b"5"), "no reply")
            s.sendall(b"NOOP\r\n")
            self.assertTrue(s.recv(512).startswith(b"250 "))
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
