"""The memory budget of smtpd.

With smtpd_memory_budget = 64K a session in DATA holds a 64 KiB chunk,
which puts smtpd over the budget: another client's MAIL gets 451 4.3.2,
the message under way is accepted and delivered all the same, and once
it is done the other client's MAIL goes through.
"""

import unittest

from harness import BulwarkTest


def message(tag):
    return ("From: a@example.org\r\nMessage-ID: <budget.%s@client.test>"
            "\r\n\r\nbudget %s\r\n" % (tag, tag)).encode()


class BudgetTest(BulwarkTest):

    def test_budget(self):
        d = self.daemon(smtpd_memory_budget="64K")
        with d.raw(source="127.0.5.1") as a, d.raw(source="127.0.5.2") as b:
            self.assertEqual(a.cmd("EHLO a.test")[0], 250)
            self.assertEqual(a.cmd("MAIL FROM:<a@example.org>")[0], 250)
            self.assertEqual(a.cmd("RCPT TO:<someone@example.test>")[0],
                             250)
            self.assertEqual(a.cmd("DATA")[0], 354)
            self.assertEqual(b.cmd("EHLO b.test")[0], 250)
            code, lines = b.cmd("MAIL FROM:<b@example.org>")
            self.assertEqual(code, 451, lines)
            self.assertTrue(lines[-1].startswith("451 4.3.2 "), lines)
            # The message under way goes on.
            a.send(message("first") + b".\r\n")
            code, lines = a.reply()
            self.assertEqual(code, 250, lines)
            # Its chunk is gone: b may start now.
            self.assertEqual(b.cmd("MAIL FROM:<b@example.org>")[0], 250)
            self.assertEqual(b.cmd("RCPT TO:<someone@example.test>")[0],
                             250)
            self.assertEqual(b.cmd("DATA")[0], 354)
            b.send(message("second") + b".\r\n")
            self.assertEqual(b.reply()[0], 250)
        box = d.maildir()
        self.assertTrue(box.wait_count(2, 30))
        got = b"".join(data for _, data in box.messages())
        self.assertIn(b"budget first", got)
        self.assertIn(b"budget second", got)


if __name__ == "__main__":
    unittest.main()
