#!/usr/bin/env python3
"""Send corpus messages to a running instance and check what arrived.

    python3 tests/integration/send_corpus.py [-n 100] [--port 2525]
        [--maildir run/mail/someone/Maildir]

Takes messages from ../shared/corpus/messages (or tests/data when that
is absent) that are expected to be delivered, sends each with smtplib
to someone@example.test with an X-Test-Id header in front, waits for
them in the Maildir's new/ and compares each byte for byte with what
was sent, trace headers aside.  Prints a summary; exits 1 on any
difference.  For the default instance of `make run`.
"""

import argparse
import os
import smtplib
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def candidates():
    shared = os.path.join(harness.SHARED_CORPUS, "messages")
    if os.path.isdir(shared):
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
    run = uuid.uuid4().hex[:8]
    sent = {}
    for name, path in list(candidates())[:a.n]:
        with open(path, "rb") as f:
            data = f.read()
        tid = "%s-%s" % (run, name)
        wire = harness.crlf(harness.with_test_id(data, tid))
        opts = ["BODY=8BITMIME"] if harness.has_8bit(wire) else []
        with smtplib.SMTP("127.0.0.1", a.port, timeout=60) as s:
            s.sendmail("sender@example.org", ["someone@example.test"],
                       wire, mail_options=opts)
        sent[tid] = data
    mbox = harness.Maildir("", "")
    mbox.path = a.maildir
    got = mbox.wait_test_ids(sent, 120)
    bad = []
    for tid, data in sorted(sent.items()):
        msgs = got.get(tid, [])
        if len(msgs) != 1:
            bad.append("%s: %d copies" % (tid, len(msgs)))
            continue
        names, rest = harness.split_trace(harness.lf(msgs[0]))
        if rest != harness.expected_delivery(data, tid) or \
                set(names) != {"received", "return-path", "delivered-to"}:
            bad.append("%s: differs (trace %s)" % (tid, names))
    print("sent %d, arrived %d, identical %d" %
          (len(sent), sum(1 for t in sent if t in got),
           len(sent) - len(bad)))
    for b in bad:
        print("  " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
