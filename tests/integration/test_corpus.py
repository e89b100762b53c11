"""The message corpus, sent with smtplib and swaks, arrives intact.

Each file gets an X-Test-Id header in front so that the Maildir file can
be matched to it; what arrives must equal the file byte for byte after
the trace headers Bulwark adds (Return-Path:, Delivered-To:, Received:)
and the transport rules (CRLF on the wire, LF in the Maildir, a final
line ending added when the file lacked one).  Files that break the rules
must get the refusal written down in EXPECT.tsv / SHARED-EXPECT.tsv.
"""

import os
import shutil
import subprocess
import tempfile

import harness
from harness import BulwarkTest


def corpus_files(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".eml"))


class CorpusTest(BulwarkTest):

    def run_corpus(self, d, folder, files, expect, prefix):
        mbox = d.maildir("someone")
        accepted = {}
        total = 0
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            total += len(data)
            tid = prefix + name
            want = expect.get(name, "delivered")
            res = d.send(harness.with_test_id(data, tid))
            with self.subTest(file=name, stage="smtp"):
                if want == "delivered":
                    self.assertEqual(res[0], 250,
                                     "%s: refused: %s %s" % (name, *res))
                    accepted[tid] = (name, data)
                else:
                    self.assertRefused(res, want, name)
        got = mbox.wait_test_ids(accepted, 60 + total // 100000)
        for tid, (name, data) in sorted(accepted.items()):
            with self.subTest(file=name, stage="delivery"):
                msgs = got.get(tid, [])
                self.assertEqual(len(msgs), 1,
                                 "%s: %d copies in the Maildir"
                                 % (name, len(msgs)))
                self.assertDelivered(msgs[0], data, tid)
        # Nothing arrived that was not sent or was refused.
        strays = set(got) - set(accepted)
        self.assertEqual(strays, set(), "unexpected messages in Maildir")
        return accepted

    def test_own_corpus(self):
        """tests/data/*.eml by smtplib: delivered intact or refused as
        EXPECT.tsv says."""
        files = corpus_files(harness.DATA_DIR)
        self.assertGreaterEqual(len(files), 25)
        expect = harness.read_expect(
            os.path.join(harness.DATA_DIR, "EXPECT.tsv"))
        self.assertTrue(expect, "tests/data/EXPECT.tsv is missing")
        for name in expect:
            self.assertIn(name, files, "EXPECT.tsv names a missing file")
        d = self.daemon()
        self.run_corpus(d, harness.DATA_DIR, files, expect, "own-")

    def test_shared_corpus(self):
        """../shared/corpus/messages by smtplib, outcomes as
        SHARED-EXPECT.tsv says."""
        folder = os.path.join(harness.SHARED_CORPUS, "messages")
        if not os.path.isdir(folder):
            self.skipTest("no shared corpus at %s" % folder)
        files = corpus_files(folder)
        expect = harness.read_expect(
            os.path.join(harness.DATA_DIR, "SHARED-EXPECT.tsv"))
        self.assertTrue(expect, "tests/data/SHARED-EXPECT.tsv is missing")
        d = self.daemon()
        accepted = self.run_corpus(d, folder, files, expect, "shared-")
        print("\n    shared corpus: %d files, %d delivered intact"
              % (len(files), len(accepted)), end="")

    def test_swaks(self):
        """A few corpus files sent with swaks arrive intact."""
        swaks = shutil.which("swaks")
        if not swaks:
            self.fail("swaks is not installed (tools/bootstrap.sh "
                      "installs it)")
        d = self.daemon()
        names = ["plain-lf.eml", "plain-crlf.eml", "dots-lf.eml",
                 "dots-crlf.eml", "folded-headers.eml",
                 "long-line-20000.eml", "body-8bit-utf8.eml",
                 "multipart-mixed-attachment.eml"]
        sent = {}
        tmp = tempfile.mkdtemp(dir=d.tmp)
        for name in names:
            with open(os.path.join(harness.DATA_DIR, name), "rb") as f:
                data = f.read()
            tid = "swaks-" + name
            # swaks ends the data itself with CRLF.CRLF after the file,
            # and takes a final "." line of the file for that ending:
            # so send the file without its last line ending, and give a
            # file whose last line is a dot one more line after it.
            if harness.lf(data).endswith(b"\n.\n"):
                data += b"a line after the final dot\n"
            wire = harness.crlf(harness.with_test_id(data, tid))
            if wire.endswith(b"\r\n"):
                wire = wire[:-2]
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(wire)
            r = subprocess.run(
                [swaks, "--server", "127.0.0.1", "--port", str(d.port),
                 "--helo", "client.test", "--from", "sender@example.org",
                 "--to", "someone@example.test", "--data", "@" + path,
                 "--timeout", "60"],
                capture_output=True, timeout=120)
            with self.subTest(file=name, stage="swaks"):
                self.assertEqual(r.returncode, 0, "swaks failed:\n%s"
                                 % r.stdout.decode("utf-8", "replace")[-2000:])
                sent[tid] = data
        got = d.maildir().wait_test_ids(sent, 60)
        for tid, data in sorted(sent.items()):
            with self.subTest(test_id=tid, stage="delivery"):
                msgs = got.get(tid, [])
                self.assertEqual(len(msgs), 1)
                self.assertDelivered(msgs[0], data, tid)
