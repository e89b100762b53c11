"""The message corpus, sent with smtplib and swaks, arrives intact.

Each file is sent as it is; the queue id of the 250 reply finds it in
the Maildir again (Bulwark's Received: field names it).  What arrives
must equal the file byte for byte after the trace fields Bulwark adds
(Return-Path:, Delivered-To:, Received:) and the transport rules (CRLF
on the wire, LF in the Maildir, a final line ending added when the file
lacked one).  Files that break the rules
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

    def run_corpus(self, d, folder, files, expect):
        """Send each file as it is; match what arrives by the queue id
        in Bulwark's Received: field, and compare byte for byte."""
        mbox = d.maildir("someone")
        accepted = {}		# queue id -> (name, data)
        total = 0
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            total += len(data)
            want = expect.get(name, "delivered")
            res = d.send(data)
            with self.subTest(file=name, stage="smtp"):
                if want == "delivered":
                    self.assertEqual(res[0], 250,
                                     "%s: refused: %s %s" % (name, *res))
                    qid = d.queue_id_from(res[1])
                    self.assertIsNotNone(qid, res[1])
                    accepted[qid] = (name, data)
                else:
                    self.assertRefused(res, want, name)
        got = mbox.wait_queue_ids(accepted, 60 + total // 100000)
        for qid, (name, data) in sorted(accepted.items()):
            with self.subTest(file=name, stage="delivery"):
                msgs = got.get(qid, [])
                self.assertEqual(len(msgs), 1,
                                 "%s: %d copies in the Maildir"
                                 % (name, len(msgs)))
                self.assertDelivered(msgs[0], data, what=name)
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
        self.run_corpus(d, harness.DATA_DIR, files, expect)

    def test_shared_corpus(self):
        """../shared/corpus/messages by smtplib, outcomes as
        SHARED-EXPECT.tsv says."""
        folder = harness.shared_corpus("messages")
        if not folder or not os.path.isdir(folder):
            self.skipTest("no shared corpus (BULWARK_SHARED_CORPUS: %r)"
                          % harness.SHARED_CORPUS)
        files = corpus_files(folder)
        expect = harness.read_expect(
            os.path.join(harness.DATA_DIR, "SHARED-EXPECT.tsv"))
        self.assertTrue(expect, "tests/data/SHARED-EXPECT.tsv is missing")
        d = self.daemon()
        accepted = self.run_corpus(d, folder, files, expect)
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
            # swaks ends the data itself with CRLF.CRLF after the file,
            # and takes a final "." line of the file for that ending:
            # so send the file without its last line ending, and give a
            # file whose last line is a dot one more line after it.
            if harness.lf(data).endswith(b"\n.\n"):
                data += b"a line after the final dot\n"
            wire = harness.crlf(data)
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
            out = r.stdout.decode("utf-8", "replace")
            with self.subTest(file=name, stage="swaks"):
                self.assertEqual(r.returncode, 0, "swaks failed:\n%s"
                                 % out[-2000:])
                qid = d.queue_id_from(out)
                self.assertIsNotNone(qid, out[-2000:])
                sent[qid] = (name, data)
        got = d.maildir().wait_queue_ids(sent, 60)
        for qid, (name, data) in sorted(sent.items()):
            with self.subTest(file=name, stage="delivery"):
                msgs = got.get(qid, [])
                self.assertEqual(len(msgs), 1)
                self.assertDelivered(msgs[0], data, what=name)
