#!/usr/bin/env python3
"""Send corpus messages to a running instance and check what arrived.

    python3 tests/integration/send_corpus.py [-n 100] [--port 2525]
        [--maildir run/mail/someone/Maildir]

Takes messages from ../shared/corpus/messages (or tests/data when that
is absent) that are expected to be delivered, sends each unchanged with
smtplib to someone@example.test, finds each in the Maildir's new/ by
the queue id of its 250 reply (named in Bulwark's Received: field) and
compares it byte for byte with the file, trace fields aside.  Prints a
summary; exits 1 on any difference.  For the default instance of `make
run`.
"""

import argparse
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def shared_messages():
    """The shared corpus's messages/, found as the tests find it."""
    top = harness.SHARED_CORPUS or subprocess.run(
        [os.path.join(harness.TOP, "tools", "shared-corpus.sh")],
        capture_output=True, text=True, timeout=30).stdout.strip()
    return os.path.join(top, "messages") if top else None


def candidates():
    shared = shared_messages()
    if shared and os.path.isdir(shared):
        folder = shared
        expect = harness.read_expect(
            os.path.join(harness.DATA_DIR, "SHARED-EXPECT.tsv"))
    else:
        folder = harness.DATA_DIR
        expect = harness.read_expect(
            os.path.join(harness.DATA_DIR, "EXPECT.tsv"))
    for name in sorted(os.listdir(folder)):
        if name.endswith(".eml") and \
                expect.get(name, "delivered") == "delivered":
            yield name, os.path.join(folder, name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--port", type=int, default=2525)
    ap.add_argument("--maildir", default=os.path.join(
        harness.TOP, "run", "mail", "someone", "Maildir"))
    a = ap.parse_args()
    sent = {}		# queue id -> (name, data)
    for name, path in list(candidates())[:a.n]:
        with open(path, "rb") as f:
            data = f.read()
        wire = harness.crlf(data)
        opts = ["BODY=8BITMIME"] if harness.has_8bit(wire) else []
        with smtplib.SMTP("127.0.0.1", a.port, timeout=60,
                          local_hostname="client.test") as s:
            s.ehlo()
            s.sendmail("sender@example.org", ["someone@example.test"],
                       wire, mail_options=opts)
            qid = re.search(r"queued as ([0-9A-Za-z]+)", s.last_reply)
        if not qid:
            print("%s: no queue id in %r" % (name, s.last_reply))
            return 1
        sent[qid.group(1)] = (name, data)
    got = harness.Maildir(a.maildir).wait_queue_ids(sent, 120)
    bad = []
    for qid, (name, data) in sorted(sent.items()):
        msgs = got.get(qid, [])
        if len(msgs) != 1:
            bad.append("%s (%s): %d copies" % (name, qid, len(msgs)))
            continue
        ok, names, _, _ = harness.delivered_intact(msgs[0], data)
        if not ok:
            bad.append("%s (%s): differs (trace %s)" % (name, qid, names))
    print("sent %d, arrived %d, identical %d" %
          (len(sent), sum(1 for q in sent if q in got),
           len(sent) - len(bad)))
    for b in bad:
        print("  " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
